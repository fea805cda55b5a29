# FakeExchange: the allowlisted cmdlets as a local module, so tests can run the real bridge.ps1
# in -Mode module. It is written from Exchange's documented behaviour (../shared/design/
# EXCHANGE.md, Microsoft's cmdlet reference), not from what easgate sends, and disagrees with
# easgate wherever Exchange would:
# - a mailbox answers to every name Exchange takes as -Identity (Identity, Name, DN, alias,
#   SamAccountName, UPN, primary and proxy SMTP addresses, Guid, ExchangeGuid), compared
#   without case beyond ASCII; a name two mailboxes share is ambiguous;
# - Set-CASMailbox moves an ID added to one list off the other, refuses an ID added to both
#   (ErrorDeviceIdInBothLists), and re-evaluates the mailbox's devices (Individual);
# - Get-MobileDeviceStatistics returns objects typed as Exchange 2013 and later type them
#   (MobileDeviceConfiguration), not as MobileDeviceStatistics;
# - Get-MobileDevice -Filter "WhenChangedUTC -gt '<date>'" filters;
# - errors arrive as implicit remoting delivers them: non-terminating RemoteException records
#   whose FullyQualifiedErrorId names Exchange's exception type.
#
# Test controls (the environment, read at import):
#   FAKE_EXCHANGE_DEVICES            devices on Tony Smith's mailbox (default 3)
#   FAKE_EXCHANGE_MARKER             a file Invoke-Danger creates: proof it ran, which it must not
#   FAKE_EXCHANGE_STATE              a file holding the organisation, shared by every bridge
#                                    process given the same file (one Exchange for a whole pool)
#   FAKE_EXCHANGE_STATISTICS_TYPE    the statistics objects' type name (another version's)
#   FAKE_EXCHANGE_STATISTICS_OFFLINE a mailbox whose statistics fail: its database is offline
#   FAKE_EXCHANGE_DELETE_AFTER_LISTING a mailbox deleted right after Get-MobileDevice lists it
#   FAKE_EXCHANGE_REST               1: also Exchange Online's REST cmdlets Get-EXOMobileDeviceStatistics
#                                    and Get-EXOCASMailbox (property sets, other type names);
#                                    old: a module version whose Get-EXOCASMailbox has no -PropertySets
#   FAKE_EXCHANGE_ADD_LATENCY_MS     Set-CASMailbox takes this long when it adds an ID (a slow
#                                    round trip): a call sent later may overtake it
# Identities starting "fault:" make Get-CASMailbox fail: fault:throttled, fault:session-limit,
# fault:transport, fault:terminating.
#
# Engine features and .NET only (no Utility cmdlets), like bridge.ps1.

Set-StrictMode -Version 2.0

$script:StatisticsType = 'Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDeviceConfiguration'
if ($env:FAKE_EXCHANGE_STATISTICS_TYPE) { $script:StatisticsType = $env:FAKE_EXCHANGE_STATISTICS_TYPE }
$script:Section = [char] 0xA7
$script:Mailboxes = [System.Collections.Generic.List[hashtable]]::new()
# Get-/Set-ActiveSyncOrganizationSettings and the device access rules (Name "<QueryString>
# (<Characteristic>)"), Exchange's defaults out of the box.
$script:Settings = @{ DefaultAccessLevel = 'Allow'; AdminMailRecipients = [string[]] @(); UserMailInsert = '' }
$script:Rules = [System.Collections.Generic.List[hashtable]]::new()

function New-FakeGuid([string] $Seed) {
  $bytes = [System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($Seed))
  [guid]::new([byte[]] $bytes[0..15]).ToString()
}

function New-FakeMailbox([string] $Name, [string] $Ou, [string] $Alias, [string] $Smtp,
  [string[]] $Proxies, [string] $Upn, [string] $DeviceType, [string[]] $DeviceIds) {
  $identity = "contoso.com/$Ou/$Name"
  $mailbox = @{
    Identity = $identity; Name = $Name; Alias = $Alias; SamAccountName = $Alias
    Upn = $Upn; Smtp = $Smtp; Proxies = [string[]] $Proxies
    Dn = "CN=$Name,OU=$Ou,DC=contoso,DC=com"
    Guid = New-FakeGuid "guid:$identity"; ExchangeGuid = New-FakeGuid "exchange:$identity"
    EntraId = New-FakeGuid "entra:$identity"  # Exchange Online's ExternalDirectoryObjectId
    Allowed = [System.Collections.Generic.List[string]]::new()
    Blocked = [System.Collections.Generic.List[string]]::new()
    Devices = [System.Collections.Generic.List[hashtable]]::new()
  }
  foreach ($id in $DeviceIds) {
    $mailbox.Devices.Add(@{
        DeviceId = $id; DeviceType = $DeviceType; Status = 'DeviceOk'
        AccessState = 'Allowed'; AccessReason = 'Global'
        Guid = New-FakeGuid "device:$identity/$id"
        WipeRequested = 0L; Changed = [datetime]::new(2025, 3, 14, 9, 26, 53, [System.DateTimeKind]::Utc).Ticks
      })
  }
  $script:Mailboxes.Add($mailbox)
}

function Initialize-Organisation {
  $script:Mailboxes.Clear()
  $count = 3
  if ($env:FAKE_EXCHANGE_DEVICES) { $count = [int] $env:FAKE_EXCHANGE_DEVICES }
  $ids = [string[]] @(for ($i = 1; $i -le $count; $i++) { 'DEV{0:D6}' -f $i })
  New-FakeMailbox 'Tony Smith' 'Users' 'tsmith' 'tony@contoso.com' @('tony.smith@contoso.com', 'tsmith@contoso.onmicrosoft.com') 'tony.smith@corp.contoso.com' 'iPhone' $ids
  New-FakeMailbox 'Lila Okafor' 'Users' 'lokafor' 'lila@contoso.com' @('lila.okafor@contoso.com') 'lila.okafor@corp.contoso.com' 'Android' @('LILA00001')
  New-FakeMailbox "Zo$([char] 0xEB) $([char] 0xDC)nal" 'Users' 'zunal' "zo$([char] 0xEB)@contoso.com" @('zoe.unal@contoso.com') 'zoe.unal@corp.contoso.com' 'iPad' @('ZOE00001')
  # Two people named Ann Berg: the Name alone is ambiguous, as it would be in Exchange.
  New-FakeMailbox 'Ann Berg' 'Users' 'aberg' 'ann.berg@contoso.com' @() 'ann.berg@corp.contoso.com' 'iPhone' @('ANN00001', 'ANN00002')
  New-FakeMailbox 'Ann Berg' 'Sales' 'aberg2' 'ann.berg2@contoso.com' @() 'ann.berg2@corp.contoso.com' 'iPhone' @('ANNS0001')
}

# ---------------------------------------------------------------------------------------------
# One organisation for every process given FAKE_EXCHANGE_STATE: each cmdlet call holds a
# system-wide named mutex, reads the file, and writes it back when it changed something.

function Enter-Organisation {
  if (-not $env:FAKE_EXCHANGE_STATE) { return $null }
  # A named mutex, not a file lock: an exception caught here would still reach the bridge's
  # error variable (PowerShell records handled errors there too) and fail the request.
  $name = 'easgate-fake-exchange-' + (New-FakeGuid $env:FAKE_EXCHANGE_STATE)
  $mutex = [System.Threading.Mutex]::new($false, $name)
  try { [void] $mutex.WaitOne() } catch [System.Threading.AbandonedMutexException] { }
  $file = [System.IO.FileInfo]::new($env:FAKE_EXCHANGE_STATE)
  if ($file.Exists -and $file.Length -gt 0) { Read-Organisation } else { Save-Organisation }
  return $mutex
}

function Exit-Organisation($Lock, [switch] $Changed) {
  if ($null -eq $Lock) { return }
  try { if ($Changed) { Save-Organisation } } finally { $Lock.ReleaseMutex(); $Lock.Dispose() }
}

function Save-Organisation {
  $plain = [System.Collections.Generic.List[object]]::new()
  foreach ($m in $script:Mailboxes) {
    $copy = @{}
    foreach ($k in $m.Keys) { $copy[$k] = $m[$k] }
    $plain.Add($copy)
  }
  $whole = @{ Mailboxes = $plain; Settings = $script:Settings; Rules = [object[]] $script:Rules.ToArray() }
  $json = [System.Text.Json.JsonSerializer]::Serialize([object] $whole, [type] [object],
    [System.Text.Json.JsonSerializerOptions] $null)
  $temporary = "$($env:FAKE_EXCHANGE_STATE).tmp"
  [System.IO.File]::WriteAllText($temporary, $json)
  [System.IO.File]::Move($temporary, $env:FAKE_EXCHANGE_STATE, $true)
}

function ConvertFrom-JsonElement($Element) {
  switch ($Element.ValueKind) {
    'Object' {
      $h = @{}
      foreach ($p in $Element.EnumerateObject()) { $h[$p.Name] = ConvertFrom-JsonElement $p.Value }
      return $h
    }
    'Array' {
      $items = [System.Collections.Generic.List[object]]::new()
      foreach ($i in $Element.EnumerateArray()) { $items.Add((ConvertFrom-JsonElement $i)) }
      return , $items
    }
    'String' { return $Element.GetString() }
    'Number' { return $Element.GetInt64() }
    'True' { return $true }
    'False' { return $false }
    default { return $null }
  }
}

function Read-Organisation {
  $document = [System.Text.Json.JsonDocument]::Parse([System.IO.File]::ReadAllText($env:FAKE_EXCHANGE_STATE))
  try {
    $script:Mailboxes.Clear()
    $root = $document.RootElement
    $script:Settings = ConvertFrom-JsonElement $root.GetProperty('Settings')
    $script:Settings.AdminMailRecipients = [string[]] @($script:Settings.AdminMailRecipients)
    $script:Rules.Clear()
    foreach ($r in $root.GetProperty('Rules').EnumerateArray()) { $script:Rules.Add((ConvertFrom-JsonElement $r)) }
    foreach ($element in $root.GetProperty('Mailboxes').EnumerateArray()) {
      $m = ConvertFrom-JsonElement $element
      $m.Proxies = [string[]] @($m.Proxies)
      foreach ($list in 'Allowed', 'Blocked') {
        $l = [System.Collections.Generic.List[string]]::new()
        foreach ($id in $m[$list]) { $l.Add([string] $id) }
        $m[$list] = $l
      }
      $devices = [System.Collections.Generic.List[hashtable]]::new()
      foreach ($d in $m.Devices) { $devices.Add($d) }
      $m.Devices = $devices
      $script:Mailboxes.Add($m)
    }
  } finally { $document.Dispose() }
}

Initialize-Organisation

# ---------------------------------------------------------------------------------------------
# Names and errors.

function Get-DeviceIdentity($Mailbox, $Device) {
  "$($Mailbox.Identity)/ExchangeActiveSyncDevices/$($Device.DeviceType)$($script:Section)$($Device.DeviceId)"
}

function Get-MailboxNames($Mailbox) {
  @($Mailbox.Identity, $Mailbox.Name, $Mailbox.Dn, $Mailbox.Alias, $Mailbox.SamAccountName,
    $Mailbox.Upn, $Mailbox.Smtp, $Mailbox.Guid, $Mailbox.ExchangeGuid, $Mailbox.EntraId) + @($Mailbox.Proxies)
}

# Exchange's error, as implicit remoting delivers it.
function Write-ExchangeError($Cmdlet, [string] $Type, [string] $Message, [string] $Category) {
  $exception = [System.Management.Automation.RemoteException]::new($Message)
  $id = "[Server=EX01,RequestId=6f1c2d3e-0000-4000-8000-000000000001,TimeStamp=1/1/2026 0:00:00 AM] " +
    "[FailureCategory=Cmdlet-$Type] 8A2B9C31,Microsoft.Exchange.Management.Tasks.Fake"
  $record = [System.Management.Automation.ErrorRecord]::new($exception, $id, $Category, $null)
  $Cmdlet.WriteError($record)
}

function Write-NotFound($Cmdlet, [string] $Identity) {
  Write-ExchangeError $Cmdlet 'ManagementObjectNotFoundException' `
    "The operation couldn't be performed because object '$Identity' couldn't be found on 'DC01.contoso.com'." `
    ObjectNotFound
}

# A mailbox by any of its names, or $null after writing Exchange's error.
function Resolve-Mailbox($Cmdlet, [string] $Identity) {
  $found = @()
  foreach ($m in $script:Mailboxes) {
    foreach ($name in (Get-MailboxNames $m)) {
      # Exchange compares names without case, beyond ASCII too.
      if ($name -and [string]::Equals($name, $Identity, [System.StringComparison]::InvariantCultureIgnoreCase)) {
        $found += , $m
        break
      }
    }
  }
  if ($found.Count -eq 0) { Write-NotFound $Cmdlet $Identity; return $null }
  if ($found.Count -gt 1) {
    Write-ExchangeError $Cmdlet 'ManagementObjectAmbiguousException' `
      "The operation couldn't be performed because '$Identity' matches multiple entries." InvalidArgument
    return $null
  }
  return $found[0]
}

function Find-Device([string] $Identity) {
  $wanted = $Identity.Replace('\', '/')
  foreach ($m in $script:Mailboxes) {
    foreach ($d in $m.Devices) {
      if ([string]::Equals((Get-DeviceIdentity $m $d), $wanted, [System.StringComparison]::InvariantCultureIgnoreCase) -or
        [string]::Equals($d.Guid, $Identity, [System.StringComparison]::OrdinalIgnoreCase)) {
        return @{ Mailbox = $m; Device = $d }
      }
    }
  }
  return $null
}

function New-ExchangeObject([string] $TypeName, [hashtable] $Properties, [string[]] $Order) {
  $o = [PSCustomObject] @{}
  foreach ($name in $Order) { $o.PSObject.Properties.Add([psnoteproperty]::new($name, $Properties[$name])) }
  $o.PSObject.TypeNames.Clear()
  # What a remote session's objects carry once deserialized.
  $o.PSObject.TypeNames.Add("Deserialized.$TypeName")
  $o.PSObject.TypeNames.Add('Deserialized.System.Object')
  $o
}

function ConvertTo-Utc([long] $Ticks) {
  if ($Ticks -eq 0) { return $null }
  [datetime]::new($Ticks, [System.DateTimeKind]::Utc)
}

function ConvertTo-MobileDevice($Mailbox, $Device) {
  New-ExchangeObject 'Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice' @{
    DeviceId = $Device.DeviceId
    DeviceType = $Device.DeviceType
    DeviceModel = $Device.DeviceType
    FriendlyName = "$($Mailbox.Name)'s $($Device.DeviceType)"
    DeviceAccessState = $Device.AccessState
    DeviceAccessStateReason = $Device.AccessReason
    ClientType = 'EAS'
    FirstSyncTime = [datetime]::new(2025, 3, 14, 9, 26, 53, [System.DateTimeKind]::Utc)
    UserDisplayName = $Mailbox.Identity
    Identity = Get-DeviceIdentity $Mailbox $Device
    DistinguishedName = "CN=$($Device.DeviceType)$($script:Section)$($Device.DeviceId),CN=ExchangeActiveSyncDevices,$($Mailbox.Dn)"
    Guid = [guid] $Device.Guid
    WhenChangedUTC = ConvertTo-Utc $Device.Changed
  } @('DeviceId', 'DeviceType', 'DeviceModel', 'FriendlyName', 'DeviceAccessState',
    'DeviceAccessStateReason', 'ClientType', 'FirstSyncTime', 'UserDisplayName', 'Identity',
    'DistinguishedName', 'Guid', 'WhenChangedUTC')
}

# ---------------------------------------------------------------------------------------------
# The cmdlets.

function Get-MobileDevice {
  [CmdletBinding()]
  param([string] $Mailbox, [string] $Identity, [object] $ResultSize, [string] $Filter)
  $state = Enter-Organisation
  $changed = $false
  try {
    $limit = 1000
    if ($null -ne $ResultSize) {
      if ("$ResultSize" -eq 'Unlimited') { $limit = [int]::MaxValue } else { $limit = [int] $ResultSize }
    }
    $since = $null
    if ($Filter) {
      if ($Filter -notmatch "^WhenChangedUTC -gt '([^']+)'$") {
        Write-ExchangeError $PSCmdlet 'TaskArgumentException' "FakeExchange filters only by WhenChangedUTC -gt; got: $Filter" InvalidArgument
        return
      }
      $since = [datetime]::Parse($Matches[1], [System.Globalization.CultureInfo]::InvariantCulture,
        [System.Globalization.DateTimeStyles]::AdjustToUniversal -bor [System.Globalization.DateTimeStyles]::AssumeUniversal).Ticks
    }
    if ($PSBoundParameters.ContainsKey('Identity')) {
      $found = Find-Device $Identity
      if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
      ConvertTo-MobileDevice $found.Mailbox $found.Device
      return
    }
    $scope = @($script:Mailboxes)
    if ($PSBoundParameters.ContainsKey('Mailbox')) {
      $m = Resolve-Mailbox $PSCmdlet $Mailbox
      if (-not $m) { return }
      $scope = @($m)
    }
    $sent = 0
    foreach ($m in $scope) {
      foreach ($d in $m.Devices) {
        if ($null -ne $since -and $d.Changed -le $since) { continue }
        if ($sent -eq $limit) {
          if ($null -eq $ResultSize) {
            $PSCmdlet.WriteWarning("By default, only the first $limit items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify `"-ResultSize Unlimited`".")
          }
          return
        }
        ConvertTo-MobileDevice $m $d
        $sent++
      }
    }
    if ($env:FAKE_EXCHANGE_DELETE_AFTER_LISTING -and -not $PSBoundParameters.ContainsKey('Mailbox')) {
      # Deleted while the caller was still reading the list.
      foreach ($m in @($script:Mailboxes)) {
        if ((Get-MailboxNames $m) -contains $env:FAKE_EXCHANGE_DELETE_AFTER_LISTING) {
          [void] $script:Mailboxes.Remove($m)
          $changed = $true
        }
      }
    }
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Get-MobileDeviceStatistics {
  [CmdletBinding()]
  param([string] $Mailbox, [string] $Identity)
  $state = Enter-Organisation
  try {
    if ($PSBoundParameters.ContainsKey('Identity')) {
      $found = Find-Device $Identity
      if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
      $m = $found.Mailbox
      $devices = @($found.Device)
    } else {
      $m = Resolve-Mailbox $PSCmdlet $Mailbox
      if (-not $m) { return }
      $devices = @($m.Devices)
    }
    if ($env:FAKE_EXCHANGE_STATISTICS_OFFLINE -and (Get-MailboxNames $m) -contains $env:FAKE_EXCHANGE_STATISTICS_OFFLINE) {
      Write-ExchangeError $PSCmdlet 'MailboxOfflineException' `
        "MapiExceptionMdbOffline: Unable to open message store. The database of mailbox '$Mailbox' is offline." ResourceUnavailable
      return
    }
    foreach ($d in $devices) {
      New-ExchangeObject $script:StatisticsType @{
        DeviceID = $d.DeviceId
        DeviceType = $d.DeviceType
        Status = $d.Status
        LastSuccessSync = [datetime]::new(2026, 11, 1, 8, 0, 0, [System.DateTimeKind]::Utc)
        DeviceWipeRequestTime = ConvertTo-Utc $d.WipeRequested
        DeviceAccessState = $d.AccessState
        DeviceAccessStateReason = $d.AccessReason
        Identity = Get-DeviceIdentity $m $d
        Guid = [guid] $d.Guid
      } @('DeviceID', 'DeviceType', 'Status', 'LastSuccessSync', 'DeviceWipeRequestTime',
        'DeviceAccessState', 'DeviceAccessStateReason', 'Identity', 'Guid')
    }
  } finally { Exit-Organisation $state }
}

function Get-CASMailbox {
  [CmdletBinding()]
  param([string] $Identity, [object] $ResultSize, [string] $Filter)
  switch ($Identity) {
    'fault:throttled' {
      Write-ExchangeError $PSCmdlet 'ThrottlingException' "Fail to apply the changes because the user load quota of 15 has been exceeded. The request will not be approved for at least 2500 milliseconds." LimitsExceeded
      return
    }
    'fault:session-limit' {
      throw [System.Management.Automation.Remoting.PSRemotingTransportException]::new(
        "Connecting to remote server ex01.contoso.com failed: Fail to create a runspace because you have exceeded the maximum number of 18 concurrent shells allowed for this account.")
    }
    'fault:transport' {
      throw [System.Management.Automation.Remoting.PSRemotingTransportException]::new(
        'The WinRM client cannot process the request: the connection to ex01.contoso.com was lost.')
    }
    'fault:terminating' { throw [System.InvalidOperationException]::new('Active Directory operation failed on DC01.contoso.com.') }
  }
  $state = Enter-Organisation
  try {
    if ($PSBoundParameters.ContainsKey('Identity')) {
      $m = Resolve-Mailbox $PSCmdlet $Identity
      if (-not $m) { return }
      $scope = @($m)
    } else {
      $scope = @($script:Mailboxes)
      if ($Filter -eq 'HasActiveSyncDevicePartnership -eq $true') {
        $scope = @(foreach ($m in $scope) { if ($m.Devices.Count -gt 0) { $m } })
      }
    }
    foreach ($m in $scope) {
      $addresses = [string[]] (@("SMTP:$($m.Smtp)") + @(foreach ($p in $m.Proxies) { "smtp:$p" }))
      New-ExchangeObject 'Microsoft.Exchange.Data.Directory.Management.CASMailbox' @{
        Identity = $m.Identity
        Name = $m.Name
        DisplayName = $m.Name
        SamAccountName = $m.SamAccountName
        DistinguishedName = $m.Dn
        PrimarySmtpAddress = $m.Smtp
        EmailAddresses = $addresses
        Guid = [guid] $m.Guid
        ExchangeGuid = [guid] $m.ExchangeGuid
        ActiveSyncAllowedDeviceIDs = [string[]] $m.Allowed.ToArray()
        ActiveSyncBlockedDeviceIDs = [string[]] $m.Blocked.ToArray()
        HasActiveSyncDevicePartnership = ($m.Devices.Count -gt 0)
      } @('Identity', 'Name', 'DisplayName', 'SamAccountName', 'DistinguishedName', 'PrimarySmtpAddress',
        'EmailAddresses', 'Guid', 'ExchangeGuid', 'ActiveSyncAllowedDeviceIDs', 'ActiveSyncBlockedDeviceIDs',
        'HasActiveSyncDevicePartnership')
    }
  } finally { Exit-Organisation $state }
}

function Test-ListHas($List, [string] $Id) {
  foreach ($x in $List) { if ([string]::Equals($x, $Id, [System.StringComparison]::OrdinalIgnoreCase)) { return $true } }
  return $false
}

function Remove-FromList($List, [string] $Id) {
  foreach ($x in @($List)) { if ([string]::Equals($x, $Id, [System.StringComparison]::OrdinalIgnoreCase)) { [void] $List.Remove($x) } }
}

# The IDs a value adds: an array replaces (all of it), @{Add; Remove} adds its Add.
function Get-AddedIds($Value) {
  if ($null -eq $Value) { return @() }
  if ($Value -is [System.Collections.IDictionary]) { if ($Value.Contains('Add')) { return @($Value['Add']) } else { return @() } }
  return @($Value)
}

# Applies Exchange's three forms to a list: $null clears, an array replaces, @{Add; Remove} edits.
function Update-List($List, $Value) {
  if ($null -eq $Value) { $List.Clear(); return }
  if ($Value -is [System.Collections.IDictionary]) {
    foreach ($key in $Value.Keys) {
      if ($key -ne 'Add' -and $key -ne 'Remove') { throw [System.ArgumentException]::new("Unexpected key '$key' in a multi-valued edit.") }
    }
    if ($Value.Contains('Remove')) { foreach ($id in $Value['Remove']) { Remove-FromList $List $id } }
    if ($Value.Contains('Add')) { foreach ($id in $Value['Add']) { if (-not (Test-ListHas $List $id)) { $List.Add($id) } } }
    return
  }
  $List.Clear()
  foreach ($id in @($Value)) { $List.Add([string] $id) }
}

function Set-CASMailbox {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity,
    [object] $ActiveSyncAllowedDeviceIDs, [object] $ActiveSyncBlockedDeviceIDs)
  if ($env:FAKE_EXCHANGE_ADD_LATENCY_MS -and
    (@(Get-AddedIds $ActiveSyncAllowedDeviceIDs).Count + @(Get-AddedIds $ActiveSyncBlockedDeviceIDs).Count) -gt 0) {
    [System.Threading.Thread]::Sleep([int] $env:FAKE_EXCHANGE_ADD_LATENCY_MS)
  }
  $state = Enter-Organisation
  $changed = $false
  try {
    $m = Resolve-Mailbox $PSCmdlet $Identity
    if (-not $m) { return }
    if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
    $allow = $PSBoundParameters.ContainsKey('ActiveSyncAllowedDeviceIDs')
    $block = $PSBoundParameters.ContainsKey('ActiveSyncBlockedDeviceIDs')
    if ($allow -and $block) {
      foreach ($id in (Get-AddedIds $ActiveSyncAllowedDeviceIDs)) {
        if (Test-ListHas (Get-AddedIds $ActiveSyncBlockedDeviceIDs) $id) {
          Write-ExchangeError $PSCmdlet 'DataValidationException' "The device ID '$id' can't be in both the ActiveSyncAllowedDeviceIDs and the ActiveSyncBlockedDeviceIDs lists. (ErrorDeviceIdInBothLists)" InvalidArgument
          return
        }
      }
    }
    # An ID put on one list leaves the other.
    if ($allow) {
      Update-List $m.Allowed $ActiveSyncAllowedDeviceIDs
      foreach ($id in (Get-AddedIds $ActiveSyncAllowedDeviceIDs)) { Remove-FromList $m.Blocked $id }
    }
    if ($block) {
      Update-List $m.Blocked $ActiveSyncBlockedDeviceIDs
      foreach ($id in (Get-AddedIds $ActiveSyncBlockedDeviceIDs)) { Remove-FromList $m.Allowed $id }
    }
    # Exchange re-evaluates what the lists decide at once; a device whose state came from a
    # list it has left is Unknown until its next sync.
    foreach ($d in $m.Devices) {
      $before = "$($d.AccessState)/$($d.AccessReason)"
      if (Test-ListHas $m.Blocked $d.DeviceId) { $d.AccessState = 'Blocked'; $d.AccessReason = 'Individual' }
      elseif (Test-ListHas $m.Allowed $d.DeviceId) { $d.AccessState = 'Allowed'; $d.AccessReason = 'Individual' }
      elseif ($d.AccessReason -eq 'Individual') { $d.AccessState = 'Unknown'; $d.AccessReason = 'Unknown' }
      if ("$($d.AccessState)/$($d.AccessReason)" -ne $before) { $d.Changed = [datetime]::UtcNow.Ticks }
    }
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Clear-MobileDevice {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity, [switch] $AccountOnly, [switch] $Cancel,
    [string[]] $NotificationEmailAddresses)
  $state = Enter-Organisation
  $changed = $false
  try {
    $found = Find-Device $Identity
    if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
    if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
    $d = $found.Device
    if ($Cancel) {
      if ($d.Status -eq 'DeviceOk') { $PSCmdlet.WriteWarning("No wipe request is pending for device $($d.DeviceId).") }
      $d.Status = 'DeviceOk'
      $d.WipeRequested = 0L
    } else {
      if ($AccountOnly) { $d.Status = 'AccountOnlyDeviceWipePending' } else { $d.Status = 'DeviceWipePending' }
      $d.WipeRequested = [datetime]::UtcNow.Ticks
    }
    $d.Changed = [datetime]::UtcNow.Ticks
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Remove-MobileDevice {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity)
  $state = Enter-Organisation
  $changed = $false
  try {
    $found = Find-Device $Identity
    if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
    if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
    [void] $found.Mailbox.Devices.Remove($found.Device)
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Get-ActiveSyncOrganizationSettings {
  [CmdletBinding()]
  param()
  $state = Enter-Organisation
  try {
    New-ExchangeObject 'Microsoft.Exchange.Data.Directory.SystemConfiguration.ActiveSyncOrganizationSettings' @{
      DefaultAccessLevel = $script:Settings.DefaultAccessLevel
      AdminMailRecipients = [string[]] $script:Settings.AdminMailRecipients
      UserMailInsert = $script:Settings.UserMailInsert
      Name = 'Mobile Mailbox Settings'
      Identity = 'Mobile Mailbox Settings'
    } @('DefaultAccessLevel', 'AdminMailRecipients', 'UserMailInsert', 'Name', 'Identity')
  } finally { Exit-Organisation $state }
}

# Exchange's decision for each device, written from EXCHANGE.md: the mailbox's blocked list,
# its allowed list, the first rule by UserAgent, DeviceOS, DeviceModel, DeviceType, the default.
# Devices learn it when they next connect; this organisation's devices connect at once.
function Update-AccessStates {
  $states = @{ Allow = 'Allowed'; Block = 'Blocked'; Quarantine = 'Quarantined' }
  foreach ($m in $script:Mailboxes) {
    foreach ($d in $m.Devices) {
      $before = "$($d.AccessState)/$($d.AccessReason)"
      if (Test-ListHas $m.Blocked $d.DeviceId) { $d.AccessState = 'Blocked'; $d.AccessReason = 'Individual' }
      elseif (Test-ListHas $m.Allowed $d.DeviceId) { $d.AccessState = 'Allowed'; $d.AccessReason = 'Individual' }
      else {
        $decided = $null
        # This organisation's devices report no user agent or OS; their model is their type.
        $reported = @{ UserAgent = $null; DeviceOS = $null; DeviceModel = $d.DeviceType; DeviceType = $d.DeviceType }
        foreach ($c in 'UserAgent', 'DeviceOS', 'DeviceModel', 'DeviceType') {
          if ($null -ne $decided) { break }
          foreach ($r in $script:Rules) {
            if ($r.Characteristic -eq $c -and $null -ne $reported[$c] -and $r.QueryString -ceq $reported[$c]) { $decided = $r; break }
          }
        }
        if ($null -ne $decided) { $d.AccessState = $states[$decided.AccessLevel]; $d.AccessReason = 'DeviceRule' }
        else { $d.AccessState = $states[$script:Settings.DefaultAccessLevel]; $d.AccessReason = 'Global' }
      }
      if ("$($d.AccessState)/$($d.AccessReason)" -ne $before) { $d.Changed = [datetime]::UtcNow.Ticks }
    }
  }
}

function Set-ActiveSyncOrganizationSettings {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
  param([ValidateSet('Allow', 'Block', 'Quarantine')] [string] $DefaultAccessLevel,
    [string[]] $AdminMailRecipients, [string] $UserMailInsert)
  $state = Enter-Organisation
  $changed = $false
  try {
    if (-not $PSCmdlet.ShouldProcess('Mobile Mailbox Settings')) { return }
    if ($PSBoundParameters.ContainsKey('DefaultAccessLevel')) {
      # PowerShell binds an enum in any case; Exchange keeps its own spelling.
      foreach ($level in 'Allow', 'Block', 'Quarantine') { if ($level -eq $DefaultAccessLevel) { $script:Settings.DefaultAccessLevel = $level } }
    }
    if ($PSBoundParameters.ContainsKey('AdminMailRecipients')) { $script:Settings.AdminMailRecipients = [string[]] @($AdminMailRecipients) }
    if ($PSBoundParameters.ContainsKey('UserMailInsert')) { $script:Settings.UserMailInsert = $UserMailInsert }
    Update-AccessStates
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

function ConvertTo-DeviceAccessRule($Rule) {
  New-ExchangeObject 'Microsoft.Exchange.Data.Directory.SystemConfiguration.ActiveSyncDeviceAccessRule' @{
    QueryString = $Rule.QueryString; Characteristic = $Rule.Characteristic; AccessLevel = $Rule.AccessLevel
    Name = $Rule.Name; Identity = $Rule.Name
  } @('QueryString', 'Characteristic', 'AccessLevel', 'Name', 'Identity')
}

function Find-Rule([string] $Identity) {
  foreach ($r in $script:Rules) { if ($r.Name -eq $Identity) { return $r } }
  return $null
}

function Get-ActiveSyncDeviceAccessRule {
  [CmdletBinding()]
  param([string] $Identity)
  $state = Enter-Organisation
  try {
    if ($PSBoundParameters.ContainsKey('Identity')) {
      $r = Find-Rule $Identity
      if (-not $r) { Write-NotFound $PSCmdlet $Identity; return }
      ConvertTo-DeviceAccessRule $r
      return
    }
    foreach ($r in $script:Rules) { ConvertTo-DeviceAccessRule $r }
  } finally { Exit-Organisation $state }
}

function New-ActiveSyncDeviceAccessRule {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
  param([Parameter(Mandatory = $true)] [string] $QueryString,
    [Parameter(Mandatory = $true)] [ValidateSet('DeviceType', 'DeviceModel', 'DeviceOS', 'UserAgent', 'XMSWLHeader')] [string] $Characteristic,
    [Parameter(Mandatory = $true)] [ValidateSet('Allow', 'Block', 'Quarantine')] [string] $AccessLevel)
  $state = Enter-Organisation
  $changed = $false
  try {
    foreach ($c in 'DeviceType', 'DeviceModel', 'DeviceOS', 'UserAgent', 'XMSWLHeader') { if ($c -eq $Characteristic) { $Characteristic = $c } }
    foreach ($l in 'Allow', 'Block', 'Quarantine') { if ($l -eq $AccessLevel) { $AccessLevel = $l } }
    $name = "$QueryString ($Characteristic)"
    if (Find-Rule $name) {
      Write-ExchangeError $PSCmdlet 'Microsoft.Exchange.Data.DataValidationException' "The device access rule '$name' already exists." 'InvalidData'
      return
    }
    if (-not $PSCmdlet.ShouldProcess($name)) { return }
    $rule = @{ QueryString = $QueryString; Characteristic = $Characteristic; AccessLevel = $AccessLevel; Name = $name }
    $script:Rules.Add($rule)
    Update-AccessStates
    $changed = $true
    ConvertTo-DeviceAccessRule $rule
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Set-ActiveSyncDeviceAccessRule {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
  param([Parameter(Mandatory = $true)] [string] $Identity,
    [ValidateSet('Allow', 'Block', 'Quarantine')] [string] $AccessLevel)
  $state = Enter-Organisation
  $changed = $false
  try {
    $r = Find-Rule $Identity
    if (-not $r) { Write-NotFound $PSCmdlet $Identity; return }
    if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
    foreach ($l in 'Allow', 'Block', 'Quarantine') { if ($l -eq $AccessLevel) { $r.AccessLevel = $l } }
    Update-AccessStates
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

function Remove-ActiveSyncDeviceAccessRule {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity)
  $state = Enter-Organisation
  $changed = $false
  try {
    $r = Find-Rule $Identity
    if (-not $r) { Write-NotFound $PSCmdlet $Identity; return }
    if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
    [void] $script:Rules.Remove($r)
    Update-AccessStates
    $changed = $true
  } finally { Exit-Organisation $state -Changed:$changed }
}

# The named parameters a caller was given, to hand on to another cmdlet.
function Select-Bound($Bound, [string[]] $Names) {
  $out = @{}
  foreach ($k in $Names) { if ($Bound.ContainsKey($k)) { $out[$k] = $Bound[$k] } }
  return $out
}

# Exchange Online's REST-backed cmdlets. They return other types than the remote-session ones,
# and Get-EXOCASMailbox gives only the property sets asked for.
function Get-EXOMobileDeviceStatistics {
  [CmdletBinding()]
  param([string] $Mailbox, [string] $Identity)
  $forward = Select-Bound $PSBoundParameters 'Mailbox', 'Identity'
  foreach ($o in @(Get-MobileDeviceStatistics @forward)) {
    $o.PSObject.TypeNames.Clear()
    $o.PSObject.TypeNames.Add('Deserialized.Microsoft.Exchange.Management.RestApiClient.MobileDeviceStatistics')
    $o
  }
}

function Get-FakeEXOCASMailbox {
  [CmdletBinding()]
  param([string] $Identity, [object] $ResultSize, [string] $Filter, [string[]] $PropertySets)
  $sets = @{
    Minimum = @('DisplayName', 'EmailAddresses', 'Guid', 'Identity', 'Name', 'PrimarySmtpAddress')
    ActiveSync = @('ActiveSyncAllowedDeviceIDs', 'ActiveSyncBlockedDeviceIDs', 'ExternalDirectoryObjectId',
      'Guid', 'HasActiveSyncDevicePartnership', 'Identity', 'Name')
  }
  $wanted = [System.Collections.Generic.HashSet[string]]::new()
  foreach ($set in @($(if ($PropertySets) { $PropertySets } else { 'Minimum' }))) {
    foreach ($p in $sets[$set]) { [void] $wanted.Add($p) }
  }
  $forward = Select-Bound $PSBoundParameters 'Identity', 'ResultSize', 'Filter'
  foreach ($o in @(Get-CASMailbox @forward)) {
    $out = [PSCustomObject] @{}
    foreach ($p in $o.PSObject.Properties) { if ($wanted.Contains($p.Name)) { $out.PSObject.Properties.Add([psnoteproperty]::new($p.Name, $p.Value)) } }
    if ($wanted.Contains('ExternalDirectoryObjectId')) {
      $out.PSObject.Properties.Add([psnoteproperty]::new('ExternalDirectoryObjectId', (New-FakeGuid "entra:$($o.Identity)")))
      # (the same as the mailbox's EntraId, which -Identity accepts too)
    }
    $out.PSObject.TypeNames.Clear()
    $out.PSObject.TypeNames.Add('Deserialized.Microsoft.Exchange.Management.RestApiClient.CASMailbox')
    $out
  }
}

if ($env:FAKE_EXCHANGE_REST -eq 'old') {
  # An older module's Get-EXOCASMailbox: no -PropertySets.
  function Get-EXOCASMailbox {
    [CmdletBinding()]
    param([string] $Identity, [object] $ResultSize, [string] $Filter)
    $forward = Select-Bound $PSBoundParameters 'Identity', 'ResultSize', 'Filter'
    Get-FakeEXOCASMailbox @forward -PropertySets Minimum, ActiveSync
  }
} else {
  function Get-EXOCASMailbox {
    [CmdletBinding()]
    param([string] $Identity, [object] $ResultSize, [string] $Filter, [string[]] $PropertySets)
    $forward = Select-Bound $PSBoundParameters 'Identity', 'ResultSize', 'Filter', 'PropertySets'
    Get-FakeEXOCASMailbox @forward
  }
}

# Not allowlisted: the bridge must never run it, whatever a request says.
function Invoke-Danger {
  [CmdletBinding()]
  param([string] $Identity)
  if ($env:FAKE_EXCHANGE_MARKER) { [System.IO.File]::WriteAllText($env:FAKE_EXCHANGE_MARKER, 'Invoke-Danger ran') }
}

$exported = @('Get-MobileDevice', 'Get-MobileDeviceStatistics', 'Get-CASMailbox', 'Set-CASMailbox',
  'Clear-MobileDevice', 'Remove-MobileDevice', 'Get-ActiveSyncOrganizationSettings',
  'Set-ActiveSyncOrganizationSettings', 'Get-ActiveSyncDeviceAccessRule', 'New-ActiveSyncDeviceAccessRule',
  'Set-ActiveSyncDeviceAccessRule', 'Remove-ActiveSyncDeviceAccessRule', 'Invoke-Danger')
if ($env:FAKE_EXCHANGE_REST) { $exported += 'Get-EXOMobileDeviceStatistics', 'Get-EXOCASMailbox' }
Export-ModuleMember -Function $exported
