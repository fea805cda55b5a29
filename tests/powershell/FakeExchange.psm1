# FakeExchange: the seven allowlisted cmdlets as a local module, so tests can run the real
# bridge.ps1 in -Mode module. It answers as an implicit-remoting Exchange session does:
# deserialized-looking objects with Exchange's type names, and Exchange's errors as
# non-terminating RemoteException records whose FullyQualifiedErrorId names the failure.
#
# Test controls (the environment, read at import):
#   FAKE_EXCHANGE_DEVICES   devices on tony@contoso.com (default 3)
#   FAKE_EXCHANGE_MARKER    a file Invoke-Danger creates: proof it ran, which it must not
# Identities starting "fault:" make Get-CASMailbox fail: fault:throttled, fault:session-limit,
# fault:transport, fault:terminating.
#
# Engine features only (no Utility cmdlets), like bridge.ps1.

Set-StrictMode -Version 2.0

$script:Mailboxes = [ordered]@{}

function New-FakeMailbox([string] $Smtp, [int] $Devices) {
  $mailbox = @{
    Identity = "contoso.com/Users/$Smtp"
    Smtp     = $Smtp
    Allowed  = [System.Collections.Generic.List[string]]::new()
    Blocked  = [System.Collections.Generic.List[string]]::new()
    Devices  = [System.Collections.Generic.List[hashtable]]::new()
  }
  for ($i = 1; $i -le $Devices; $i++) {
    $mailbox.Devices.Add(@{
        DeviceId = ('DEV{0:D6}' -f $i)
        DeviceType = 'iPhone'
        Status = 'DeviceOk'
        AccountOnly = $false
      })
  }
  $script:Mailboxes[$Smtp] = $mailbox
}

$deviceCount = 3
if ($env:FAKE_EXCHANGE_DEVICES) { $deviceCount = [int] $env:FAKE_EXCHANGE_DEVICES }
New-FakeMailbox 'tony@contoso.com' $deviceCount
New-FakeMailbox 'lila@contoso.com' 1

function Get-DeviceIdentity($Mailbox, $Device) {
  "$($Mailbox.Identity)/ExchangeActiveSyncDevices/$($Device.DeviceType)$([char] 0xA7)$($Device.DeviceId)"
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

function Find-Mailbox([string] $Identity) {
  foreach ($m in $script:Mailboxes.Values) {
    if ($m.Smtp -eq $Identity -or $m.Identity -eq $Identity) { return $m }
  }
  return $null
}

function Find-Device([string] $Identity) {
  foreach ($m in $script:Mailboxes.Values) {
    foreach ($d in $m.Devices) {
      if ((Get-DeviceIdentity $m $d) -eq $Identity) { return @{ Mailbox = $m; Device = $d } }
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

function ConvertTo-MobileDevice($Mailbox, $Device) {
  $access = 'Allowed'
  $reason = 'Global'
  if ($Mailbox.Blocked.Contains($Device.DeviceId)) { $access = 'Blocked'; $reason = 'Individual' }
  elseif ($Mailbox.Allowed.Contains($Device.DeviceId)) { $reason = 'Individual' }
  New-ExchangeObject 'Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice' @{
    DeviceId = $Device.DeviceId
    DeviceType = $Device.DeviceType
    DeviceAccessState = $access
    DeviceAccessStateReason = $reason
    FirstSyncTime = [datetime]::new(2025, 3, 14, 9, 26, 53, [System.DateTimeKind]::Utc)
    UserDisplayName = $Mailbox.Identity
    Identity = Get-DeviceIdentity $Mailbox $Device
  } @('DeviceId', 'DeviceType', 'DeviceAccessState', 'DeviceAccessStateReason', 'FirstSyncTime',
    'UserDisplayName', 'Identity')
}

function Get-MobileDevice {
  [CmdletBinding()]
  param([string] $Mailbox, [string] $Identity, [object] $ResultSize, [string] $Filter)
  $limit = 1000
  if ($null -ne $ResultSize) {
    if ("$ResultSize" -eq 'Unlimited') { $limit = [int]::MaxValue } else { $limit = [int] $ResultSize }
  }
  $scope = $script:Mailboxes.Values
  if ($PSBoundParameters.ContainsKey('Identity')) {
    $found = Find-Device $Identity
    if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
    ConvertTo-MobileDevice $found.Mailbox $found.Device
    return
  }
  if ($PSBoundParameters.ContainsKey('Mailbox')) {
    $m = Find-Mailbox $Mailbox
    if (-not $m) { Write-NotFound $PSCmdlet $Mailbox; return }
    $scope = @($m)
  }
  $sent = 0
  foreach ($m in $scope) {
    foreach ($d in $m.Devices) {
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
}

function Get-MobileDeviceStatistics {
  [CmdletBinding()]
  param([string] $Mailbox, [string] $Identity)
  $m = Find-Mailbox $Mailbox
  if (-not $m) { Write-NotFound $PSCmdlet "$Mailbox$Identity"; return }
  foreach ($d in $m.Devices) {
    New-ExchangeObject 'Microsoft.Exchange.Data.Mapi.MobileDeviceStatistics' @{
      DeviceID = $d.DeviceId
      Status = $d.Status
      LastSuccessSync = [datetime]::new(2026, 11, 1, 8, 0, 0, [System.DateTimeKind]::Utc)
      Identity = Get-DeviceIdentity $m $d
    } @('DeviceID', 'Status', 'LastSuccessSync', 'Identity')
  }
}

function Get-CASMailbox {
  [CmdletBinding()]
  param([string] $Identity, [object] $ResultSize, [string] $Filter)
  if ($PSBoundParameters.ContainsKey('Identity')) {
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
    $m = Find-Mailbox $Identity
    if (-not $m) { Write-NotFound $PSCmdlet $Identity; return }
    $scope = @($m)
  } else {
    $scope = $script:Mailboxes.Values
  }
  foreach ($m in $scope) {
    New-ExchangeObject 'Microsoft.Exchange.Data.Directory.Management.CASMailbox' @{
      Identity = $m.Identity
      PrimarySmtpAddress = $m.Smtp
      ActiveSyncAllowedDeviceIDs = [string[]] $m.Allowed.ToArray()
      ActiveSyncBlockedDeviceIDs = [string[]] $m.Blocked.ToArray()
      HasActiveSyncDevicePartnership = ($m.Devices.Count -gt 0)
    } @('Identity', 'PrimarySmtpAddress', 'ActiveSyncAllowedDeviceIDs', 'ActiveSyncBlockedDeviceIDs',
      'HasActiveSyncDevicePartnership')
  }
}

# Applies Exchange's three forms to a list: $null clears, an array replaces, @{Add; Remove} edits.
function Update-List($List, $Value) {
  if ($null -eq $Value) { $List.Clear(); return }
  if ($Value -is [System.Collections.IDictionary]) {
    foreach ($key in $Value.Keys) {
      if ($key -ne 'Add' -and $key -ne 'Remove') { throw [System.ArgumentException]::new("Unexpected key '$key' in a multi-valued edit.") }
    }
    if ($Value.Contains('Remove')) { foreach ($id in $Value['Remove']) { [void] $List.Remove($id) } }
    if ($Value.Contains('Add')) { foreach ($id in $Value['Add']) { if (-not $List.Contains($id)) { $List.Add($id) } } }
    return
  }
  $List.Clear()
  foreach ($id in @($Value)) { $List.Add([string] $id) }
}

function Set-CASMailbox {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity,
    [object] $ActiveSyncAllowedDeviceIDs, [object] $ActiveSyncBlockedDeviceIDs)
  $m = Find-Mailbox $Identity
  if (-not $m) { Write-NotFound $PSCmdlet $Identity; return }
  if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
  if ($PSBoundParameters.ContainsKey('ActiveSyncAllowedDeviceIDs')) { Update-List $m.Allowed $ActiveSyncAllowedDeviceIDs }
  if ($PSBoundParameters.ContainsKey('ActiveSyncBlockedDeviceIDs')) { Update-List $m.Blocked $ActiveSyncBlockedDeviceIDs }
  foreach ($id in $m.Allowed) {
    if ($m.Blocked.Contains($id)) {
      Write-ExchangeError $PSCmdlet 'DataValidationException' "The device ID '$id' can't be in both the ActiveSyncAllowedDeviceIDs and the ActiveSyncBlockedDeviceIDs lists. (ErrorDeviceIdInBothLists)" InvalidArgument
      [void] $m.Blocked.Remove($id)
      return
    }
  }
}

function Clear-MobileDevice {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity, [switch] $AccountOnly, [switch] $Cancel,
    [string[]] $NotificationEmailAddresses)
  $found = Find-Device $Identity
  if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
  if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
  if ($Cancel) {
    if ($found.Device.Status -eq 'DeviceOk') { $PSCmdlet.WriteWarning("No wipe request is pending for device $($found.Device.DeviceId).") }
    $found.Device.Status = 'DeviceOk'
    return
  }
  if ($AccountOnly) { $found.Device.Status = 'AccountOnlyDeviceWipePending' } else { $found.Device.Status = 'DeviceWipePending' }
}

function Remove-MobileDevice {
  [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
  param([Parameter(Mandatory = $true)] [string] $Identity)
  $found = Find-Device $Identity
  if (-not $found) { Write-NotFound $PSCmdlet $Identity; return }
  if (-not $PSCmdlet.ShouldProcess($Identity)) { return }
  [void] $found.Mailbox.Devices.Remove($found.Device)
}

function Get-ActiveSyncOrganizationSettings {
  [CmdletBinding()]
  param()
  New-ExchangeObject 'Microsoft.Exchange.Data.Directory.SystemConfiguration.ActiveSyncOrganizationSettings' @{
    DefaultAccessLevel = 'Allow'
    Identity = 'Mobile Mailbox Settings'
  } @('DefaultAccessLevel', 'Identity')
}

# Not allowlisted: the bridge must never run it, whatever a request says.
function Invoke-Danger {
  [CmdletBinding()]
  param([string] $Identity)
  if ($env:FAKE_EXCHANGE_MARKER) { [System.IO.File]::WriteAllText($env:FAKE_EXCHANGE_MARKER, 'Invoke-Danger ran') }
}

Export-ModuleMember -Function Get-MobileDevice, Get-MobileDeviceStatistics, Get-CASMailbox,
  Set-CASMailbox, Clear-MobileDevice, Remove-MobileDevice, Get-ActiveSyncOrganizationSettings,
  Invoke-Danger
