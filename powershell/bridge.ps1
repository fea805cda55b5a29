<#
.SYNOPSIS
  easgate's runspace bridge: one long-lived PowerShell connection to Exchange that runs
  allowlisted cmdlets for the agent.

.DESCRIPTION
  Connects once (-Mode onprem, online or module), writes a ready frame, then reads requests
  as JSON lines on stdin and answers each in frames on stdout:

    <kind> <request id> <payload length in bytes>\n<payload>

  kinds: ready, batch (CLIXML of an object[] of output objects), warning, error (JSON,
  classified), done (JSON {"count":N}), heartbeat (while idle), fatal (then exit).

  A request names one cmdlet of bridge/cmdlets.json and its parameters. They are checked
  against that file and splatted: request text never becomes script text. On EOF the
  bridge closes its Exchange session and exits 0.

  Runs on Windows PowerShell 5.1 and PowerShell 7, and uses only the engine's own commands
  and .NET, so that it also runs in a host with no Utility module.

.EXAMPLE
  pwsh -NoProfile -NonInteractive -File bridge.ps1 -Mode online -AppId <id> `
       -Organization contoso.onmicrosoft.com -CertificateFilePath /etc/easgate/exo.pfx
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)]
  [ValidateSet('onprem', 'online', 'module')]
  [string] $Mode,

  # onprem: the Exchange server whose /PowerShell/ endpoint to use (Kerberos).
  [string] $Server,

  # online: app-only authentication.
  [string] $AppId,
  [string] $Organization,
  [string] $CertificateThumbprint,
  [string] $CertificateFilePath,
  # The name of an environment variable that holds the certificate file's password, so the
  # password is never on a command line.
  [string] $CertificatePasswordVariable,

  # module: a module that provides the allowlisted cmdlets (tests).
  [string] $ModulePath,

  # Objects per batch frame, and seconds between heartbeats while idle.
  [ValidateRange(1, 100000)] [int] $BatchSize = 500,
  [ValidateRange(0.01, 3600)] [double] $HeartbeatSeconds = 15,

  # The allowlist; by default the one beside this script.
  [string] $AllowlistPath
)

Set-StrictMode -Version 2.0
# Global too: a module's functions (implicit remoting's proxies among them) look preferences up
# in their own module and then the global scope, never in this script's.
$global:ErrorActionPreference = 'Stop'
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'
$InformationPreference = 'SilentlyContinue'

# ---------------------------------------------------------------------------------------------
# Frames. Stdout carries frames only: anything else that would write to the console goes to
# stderr, which the agent logs.

$script:Utf8 = [System.Text.UTF8Encoding]::new($false)
$script:FrameOut = [Console]::OpenStandardOutput()
[Console]::SetOut([Console]::Error)

function Write-Frame([string] $Kind, [long] $Id, [string] $Payload) {
  $body = $script:Utf8.GetBytes($Payload)
  $head = [System.Text.Encoding]::ASCII.GetBytes("$Kind $Id $($body.Length)`n")
  $script:FrameOut.Write($head, 0, $head.Length)
  $script:FrameOut.Write($body, 0, $body.Length)
  $script:FrameOut.Flush()
}

# JSON text for a string, escaped per RFC 8259.
function ConvertTo-JsonString([string] $Text) {
  $sb = [System.Text.StringBuilder]::new($Text.Length + 2)
  [void] $sb.Append('"')
  foreach ($c in $Text.ToCharArray()) {
    switch ([int] $c) {
      0x22 { [void] $sb.Append('\"'); continue }
      0x5C { [void] $sb.Append('\\'); continue }
      0x0A { [void] $sb.Append('\n'); continue }
      0x0D { [void] $sb.Append('\r'); continue }
      0x09 { [void] $sb.Append('\t'); continue }
      default {
        if ([int] $c -lt 0x20) { [void] $sb.Append(('\u{0:x4}' -f [int] $c)) }
        else { [void] $sb.Append($c) }
      }
    }
  }
  [void] $sb.Append('"')
  $sb.ToString()
}

function Write-ErrorFrame([long] $Id, [string] $Kind, [hashtable] $Classified) {
  $payload = '{"category":' + (ConvertTo-JsonString $Classified.Category) +
    ',"message":' + (ConvertTo-JsonString $Classified.Message) +
    ',"exception":' + (ConvertTo-JsonString $Classified.Exception) +
    ',"retryAfterMs":' + [long] $Classified.RetryAfterMs + '}'
  Write-Frame $Kind $Id $payload
}

# ---------------------------------------------------------------------------------------------
# JSON in, without ConvertFrom-Json (a Utility cmdlet, and 5.1's has no -AsHashtable): .NET's
# JSON reader gives an XML view of the text, which is turned into plain values here.

if ($PSVersionTable.PSEdition -ne 'Core') {
  [void] [System.Reflection.Assembly]::Load('System.Runtime.Serialization, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089')
}

function ConvertFrom-JsonElement([System.Xml.XmlElement] $Element) {
  switch ($Element.GetAttribute('type')) {
    'string' { return , $Element.InnerText }
    'number' { return , [long]::Parse($Element.InnerText, [System.Globalization.CultureInfo]::InvariantCulture) }
    'boolean' { return , ($Element.InnerText -eq 'true') }
    'null' { return , $null }
    'array' {
      $items = [System.Collections.Generic.List[object]]::new()
      foreach ($child in $Element.ChildNodes) { $items.Add((ConvertFrom-JsonElement $child)) }
      return , $items.ToArray()
    }
    'object' {
      $members = [ordered]@{}
      foreach ($child in $Element.ChildNodes) {
        # Keys that are no XML name come as <a:item item="key">.
        $key = $child.LocalName
        if ($child.HasAttribute('item')) { $key = $child.GetAttribute('item') }
        $members[$key] = ConvertFrom-JsonElement $child
      }
      return , $members
    }
  }
  throw "unsupported JSON value type '$($Element.GetAttribute('type'))'"
}

function ConvertFrom-JsonText([string] $Text) {
  $bytes = $script:Utf8.GetBytes($Text)
  $reader = [System.Runtime.Serialization.Json.JsonReaderWriterFactory]::CreateJsonReader(
    $bytes, [System.Xml.XmlDictionaryReaderQuotas]::Max)
  try {
    $doc = [System.Xml.XmlDocument]::new()
    $doc.Load($reader)
    return , (ConvertFrom-JsonElement $doc.DocumentElement)
  } finally {
    $reader.Close()
  }
}

# ---------------------------------------------------------------------------------------------
# The allowlist: cmdlets, the parameters each takes and their kinds (see cmdlets.json).

if (-not $AllowlistPath) {
  $AllowlistPath = [System.IO.Path]::Combine($PSScriptRoot, 'bridge', 'cmdlets.json')
}
$script:AllowlistFile = ConvertFrom-JsonText ([System.IO.File]::ReadAllText($AllowlistPath))
$script:Allowlist = $script:AllowlistFile['cmdlets']
# Exchange Online's REST-backed cmdlets, run in place of their remote-session originals when the
# module has them (cmdlets.json, restSubstitutes): original name -> @{ Command; Extra }.
$script:Rest = @{}

# Checks a value against its kind and gives what to splat; throws a message on a bad value.
function ConvertTo-ParameterValue([string] $Cmdlet, [string] $Name, [string] $Kind, $Value) {
  $where = "$Cmdlet -${Name}"
  $isText = { param($v) $v -is [string] }
  $isIdList = {
    param($v)
    if ($v -isnot [object[]]) { return $false }
    foreach ($i in $v) { if ($i -isnot [string] -or $i.Length -eq 0) { return $false } }
    return $true
  }
  switch ($Kind) {
    'identity' {
      if (-not (& $isText $Value) -or $Value.Length -eq 0 -or $Value -match '[\x00-\x1f\x7f]') {
        throw "${where}: needs a non-empty name without control characters (an empty identity would select every object)"
      }
      return , $Value
    }
    'text' {
      if (-not (& $isText $Value)) { throw "${where}: needs text" }
      return , $Value
    }
    'resultSize' {
      if ($Value -is [string] -and $Value -eq 'Unlimited') { return , $Value }
      if ($Value -is [long] -and $Value -ge 1 -and $Value -le [int]::MaxValue) { return , [int] $Value }
      throw "${where}: needs Unlimited or a count from 1 to 2147483647"
    }
    'switch' {
      if ($Value -isnot [bool]) { throw "${where}: is a switch: true or false" }
      return , [switch] $Value
    }
    'textList' {
      if (-not (& $isIdList $Value)) { throw "${where}: needs a list of names" }
      return , [string[]] $Value
    }
    'deviceIdList' {
      if ($null -eq $Value) { return , $null }  # clears the list
      if ($Value -is [object[]]) {
        if (-not (& $isIdList $Value)) { throw "${where}: device IDs must be non-empty" }
        return , [string[]] $Value  # replaces the list
      }
      if ($Value -is [System.Collections.Specialized.OrderedDictionary]) {
        $edit = @{}
        foreach ($key in $Value.Keys) {
          if ($key -ne 'add' -and $key -ne 'remove') { throw "${where}: edits take add and remove only" }
          if (-not (& $isIdList $Value[$key])) { throw "${where}: device IDs must be non-empty" }
          if ($Value[$key].Length -gt 0) {
            if ($key -eq 'add') { $edit['Add'] = [string[]] $Value[$key] } else { $edit['Remove'] = [string[]] $Value[$key] }
          }
        }
        if ($edit.Count -eq 0) { throw "${where}: adds and removes nothing" }
        return , $edit  # Exchange's multi-valued edit: @{Add=...; Remove=...}
      }
      throw "${where}: needs a list, null, or {add, remove}"
    }
  }
  throw "${where}: unknown kind '$Kind' in the allowlist"
}

# The request as a checked cmdlet name and splat table; throws a message when it is refused.
function Get-CheckedRequest($Request) {
  $cmdlet = $Request['cmdlet']
  if ($cmdlet -isnot [string] -or -not $script:Allowlist.Contains($cmdlet)) {
    throw "'$cmdlet' is not an allowlisted cmdlet"
  }
  $spec = $script:Allowlist[$cmdlet]
  $splat = @{}
  $given = $Request['parameters']
  if ($null -ne $given) {
    if ($given -isnot [System.Collections.Specialized.OrderedDictionary]) { throw 'parameters is not an object' }
    foreach ($name in $given.Keys) {
      if (-not $spec['parameters'].Contains($name)) { throw "$cmdlet does not take -$name here" }
      $splat[$name] = ConvertTo-ParameterValue $cmdlet $name $spec['parameters'][$name] $given[$name]
    }
  }
  if ($spec.Contains('required')) {
    foreach ($name in $spec['required']) {
      if (-not $splat.ContainsKey($name)) { throw "$cmdlet -${name}: is required" }
    }
  }
  if ($spec.Contains('confirm') -and $spec['confirm']) { $splat['Confirm'] = $false }
  return @{ Cmdlet = $cmdlet; Splat = $splat }
}

# ---------------------------------------------------------------------------------------------
# Errors, classified as the agent needs them: throttled, session-limit, transient, not-found,
# ambiguous, device-id-in-both-lists, invalid-argument, other. Exchange names its exception type in FullyQualifiedErrorId
# ("[FailureCategory=Cmdlet-<Type>]", on-premises) or in the message ("|<Namespace>.<Type>|",
# Exchange Online); a local exception names it itself.

function Get-ExceptionTypeName($Record) {
  $id = [string] $Record.FullyQualifiedErrorId
  if ($id -match 'FailureCategory=Cmdlet-([A-Za-z0-9_.]+)') { return $Matches[1] }
  $message = [string] $Record.Exception.Message
  if ($message -match '\|((?:[A-Za-z0-9_]+\.)+[A-Za-z0-9_]*Exception)\|') { return $Matches[1] }
  $reason = [string] $Record.CategoryInfo.Reason
  if ($Record.Exception -is [System.Management.Automation.RemoteException] -and $reason) { return $reason }
  return $Record.Exception.GetType().FullName
}

function Get-ClassifiedError($Record) {
  $type = Get-ExceptionTypeName $Record
  $message = [string] $Record.Exception.Message
  # Exchange Online prefixes the type: "|Microsoft...Exception|text". Keep the text.
  if ($message -match '^\|[^|]*\|(.*)$') { $message = $Matches[1] }
  $all = "$type $($Record.FullyQualifiedErrorId) $message"
  $category = 'other'
  $retry = 0
  if ($all -match 'concurrent shells|maximum number of \d+ concurrent|SessionLimit') {
    $category = 'session-limit'
  } elseif ($all -match 'Throttl|MicroDelay|OverBudget|user load quota|TooManyRequests|\b429\b') {
    $category = 'throttled'
    if ($message -match 'at least (\d+) milliseconds') { $retry = [long] $Matches[1] }
  } elseif ($all -match 'ErrorDeviceIdInBothLists') {
    $category = 'device-id-in-both-lists'
  } elseif ($all -match 'ManagementObjectAmbiguous|Ambiguous') {
    $category = 'ambiguous'
  } elseif ($all -match 'ManagementObjectNotFound|ObjectNotFound|couldn.t be found') {
    $category = 'not-found'
  } elseif ($all -match 'TransientException|MapiExceptionMdbOffline|MdbOffline|DatabaseUnavailable|MailboxInTransit|StoragePermanentException.*offline') {
    $category = 'transient'
  } elseif ($all -match 'ParameterBinding|ArgumentException|TaskArgument|Validation|InvalidArgument') {
    $category = 'invalid-argument'
  }
  return @{ Category = $category; Message = $message; Exception = $type; RetryAfterMs = $retry }
}

# The connection itself is gone (transport lost, runspace broken): no request can succeed on
# this bridge any more, and the agent must start another.
function Test-ConnectionLost($Record) {
  $type = Get-ExceptionTypeName $Record
  if ("$type $($Record.Exception.Message)" -match 'concurrent shells') { return $false }
  return ($type -match 'PSRemotingTransportException|TransientException|RunspaceStateException|PSRemotingDataStructureException')
}

# ---------------------------------------------------------------------------------------------
# Connecting.

$script:Session = $null
$script:Commands = @{}

function Connect-Exchange {
  $names = [string[]] @($script:Allowlist.Keys)
  switch ($Mode) {
    'onprem' {
      if (-not $Server) { throw '-Server is required with -Mode onprem' }
      $uri = "http://$Server/PowerShell/"
      $script:Session = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri $uri `
        -Authentication Kerberos
      [void] (Import-PSSession $script:Session -CommandName $names -DisableNameChecking -AllowClobber)
    }
    'online' {
      if (-not $AppId -or -not $Organization) { throw '-AppId and -Organization are required with -Mode online' }
      Import-Module ExchangeOnlineManagement
      $connect = @{
        AppId = $AppId; Organization = $Organization; CommandName = $names
        ShowBanner = $false; SkipLoadingFormatData = $true
      }
      if ($CertificateFilePath) {
        $connect['CertificateFilePath'] = $CertificateFilePath
        if ($CertificatePasswordVariable) {
          $plain = [Environment]::GetEnvironmentVariable($CertificatePasswordVariable)
          if ($null -eq $plain) { throw "environment variable $CertificatePasswordVariable is not set" }
          $secure = [System.Security.SecureString]::new()
          foreach ($c in $plain.ToCharArray()) { $secure.AppendChar($c) }
          $secure.MakeReadOnly()
          $connect['CertificatePassword'] = $secure
        }
      } elseif ($CertificateThumbprint) {
        $connect['CertificateThumbprint'] = $CertificateThumbprint
      } else {
        throw '-CertificateFilePath or -CertificateThumbprint is required with -Mode online'
      }
      Connect-ExchangeOnline @connect
    }
    'module' {
      if (-not $ModulePath) { throw '-ModulePath is required with -Mode module' }
      Import-Module ([System.IO.Path]::GetFullPath($ModulePath))
    }
  }
  # Resolve each allowlisted name once, now: a request can only ever reach these.
  foreach ($name in $names) {
    $script:Commands[$name] = @(Get-Command -Name $name -CommandType Function, Cmdlet, Alias)[0]
  }
  # Exchange Online (or a module standing in for it): the REST cmdlets the module has, each
  # standing in for exactly one allowlisted original.
  if ($Mode -ne 'onprem' -and $script:AllowlistFile.Contains('restSubstitutes')) {
    $substitutes = $script:AllowlistFile['restSubstitutes']
    foreach ($original in @($substitutes.Keys)) {
      if ($original -eq 'comment' -or -not $script:Allowlist.Contains($original)) { continue }
      $spec = $substitutes[$original]
      $command = @(Get-Command -Name $spec['cmdlet'] -CommandType Function, Cmdlet -ErrorAction SilentlyContinue)
      if ($command.Count -eq 0) { continue }
      $script:Rest[$original] = @{ Command = $command[0]; Extra = $spec['parameters'] }
    }
  }
}

function Disconnect-Exchange {
  try {
    if ($script:Session) { Remove-PSSession $script:Session }
    if ($Mode -eq 'online') { Disconnect-ExchangeOnline -Confirm:$false }
  } catch {
    [Console]::Error.WriteLine("bridge: disconnecting: $($_.Exception.Message)")
  }
}

# ---------------------------------------------------------------------------------------------
# Running a request: output objects stream through Send-Batch into batch frames.

function Send-Batch {
  param([long] $Id, [Parameter(ValueFromPipeline = $true)] $InputObject)
  begin { $batch = [System.Collections.Generic.List[object]]::new($BatchSize); $script:Count = 0 }
  process {
    $batch.Add($InputObject)
    $script:Count++
    if ($batch.Count -ge $BatchSize) {
      Write-Frame 'batch' $Id ([System.Management.Automation.PSSerializer]::Serialize($batch.ToArray(), 3))
      $batch.Clear()
    }
  }
  end {
    if ($batch.Count -gt 0) {
      Write-Frame 'batch' $Id ([System.Management.Automation.PSSerializer]::Serialize($batch.ToArray(), 3))
    }
  }
}

# A failure that happened before the request reached Exchange: the REST cmdlet of this module
# version does not take these parameters, or is missing.
function Test-BeforeExchange($Record) {
  $type = Get-ExceptionTypeName $Record
  return ($type -match 'ParameterBindingException|CommandNotFoundException|ParameterArgumentTransformation' -or
    "$($Record.FullyQualifiedErrorId)" -match '^(NamedParameterNotFound|ParameterArgumentTransformationError|CommandNotFoundException)')
}

function Invoke-Request([long] $Id, $Checked) {
  $splat = $Checked.Splat.Clone()
  $command = $script:Commands[$Checked.Cmdlet]
  $rest = $script:Rest[$Checked.Cmdlet]
  if ($rest) {
    $command = $rest.Command
    foreach ($name in @($rest.Extra.Keys)) { $splat[$name] = $rest.Extra[$name] }
  }
  $splat['ErrorAction'] = 'Stop'
  $splat['ErrorVariable'] = 'requestErrors'
  $splat['WarningAction'] = 'SilentlyContinue'
  $splat['WarningVariable'] = 'requestWarnings'
  $requestErrors = $null
  $requestWarnings = $null
  $script:Count = 0
  $failure = $null
  try {
    & $command @splat | Send-Batch -Id $Id
  } catch {
    $failure = $_
  }
  # With implicit remoting, an Exchange error may not stop the command: read the error stream.
  if (-not $failure) {
    foreach ($e in @($requestErrors)) {
      if ($e -is [System.Management.Automation.ErrorRecord]) { $failure = $e; break }
    }
  }
  if ($failure -and $rest -and $script:Count -eq 0 -and (Test-BeforeExchange $failure)) {
    # This module's REST cmdlet cannot take the request: the original takes it, now and later.
    [Console]::Error.WriteLine("bridge: $($rest.Command.Name) cannot run here ($($failure.Exception.Message)); using $($Checked.Cmdlet) instead")
    $script:Rest.Remove($Checked.Cmdlet)
    return Invoke-Request $Id $Checked
  }
  foreach ($w in @($requestWarnings)) {
    if ($null -ne $w) { Write-Frame 'warning' $Id ([string] $w.Message) }
  }
  if ($failure) {
    if (Test-ConnectionLost $failure) {
      Write-ErrorFrame $Id 'fatal' (Get-ClassifiedError $failure)
      return $false
    }
    Write-ErrorFrame $Id 'error' (Get-ClassifiedError $failure)
  }
  Write-Frame 'done' $Id ('{"count":' + $script:Count + '}')
  return $true
}

# ---------------------------------------------------------------------------------------------
# Main loop.

try {
  Connect-Exchange
} catch {
  Write-ErrorFrame 0 'fatal' (Get-ClassifiedError $_)
  exit 3
}
$engine = 'Desktop'
if ($PSVersionTable.ContainsKey('PSEdition')) { $engine = [string] $PSVersionTable.PSEdition }
$restNames = @(foreach ($r in $script:Rest.Values) { ConvertTo-JsonString ([string] $r.Command.Name) })
Write-Frame 'ready' 0 ('{"protocol":"1","mode":' + (ConvertTo-JsonString $Mode) +
  ',"psVersion":' + (ConvertTo-JsonString ([string] $PSVersionTable.PSVersion)) +
  ',"psEdition":' + (ConvertTo-JsonString $engine) +
  ',"rest":[' + ($restNames -join ',') + ']}')

# A stream reader of its own: Console.In's ReadLineAsync blocks on .NET Framework, and idle
# heartbeats need a read that can be waited on with a time limit.
$stdin = [System.IO.StreamReader]::new([Console]::OpenStandardInput(), $script:Utf8)
$heartbeatMs = [int] ($HeartbeatSeconds * 1000)
$exitCode = 0
while ($true) {
  $pending = $stdin.ReadLineAsync()
  while (-not $pending.Wait($heartbeatMs)) {
    Write-Frame 'heartbeat' 0 '{"state":"idle"}'
  }
  $line = $pending.Result
  if ($null -eq $line) { break }  # EOF: the agent is done with this bridge
  if ($line.Trim().Length -eq 0) { continue }

  $id = 0
  try {
    $request = ConvertFrom-JsonText $line
    if ($request -isnot [System.Collections.Specialized.OrderedDictionary] -or $request['id'] -isnot [long]) {
      throw 'a request needs an id and a cmdlet'
    }
    $id = $request['id']
    $checked = Get-CheckedRequest $request
  } catch {
    Write-ErrorFrame $id 'error' @{
      Category = 'invalid-argument'; Message = "refused: $($_.Exception.Message)"
      Exception = ''; RetryAfterMs = 0
    }
    Write-Frame 'done' $id '{"count":0}'
    continue
  }
  if (-not (Invoke-Request $id $checked)) {
    $exitCode = 75  # the connection is lost; the agent starts another bridge
    break
  }
}
Disconnect-Exchange
exit $exitCode
