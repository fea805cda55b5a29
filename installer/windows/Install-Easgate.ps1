<#
.SYNOPSIS
    Installs, upgrades or removes the easgate agent as a Windows service, for administrators
    who script their installs. The MSI (easgate.msi) does the same; use one or the other on a
    machine, not both.

.DESCRIPTION
    Install (the default), and upgrade by running it again:
      - copies easgate.exe, easgate-exchange-sim.exe, bridge.ps1 and the DLLs from -SourceDirectory
        to -InstallDirectory (the service is stopped first, and started again after an upgrade);
      - creates -DataDirectory with tls\ and the default easgate.json (never replaces an existing
        one), readable only by SYSTEM, Administrators and the service;
      - registers the service "easgate": automatic start, restarted after a failure, running as
        NetworkService or -ServiceCredential, with its own service SID;
      - registers the Event Log source "easgate" (Application log);
      - adds the inbound firewall rule "easgate" for TCP -Port to easgate.exe (domain and private
        profiles).
    Then it runs `easgate doctor` and starts the service only when every check passes.

    No http.sys binding (netsh http add sslcert / urlacl) is made: the agent terminates TLS
    itself from the PEM files easgate.json names. The script warns when something else already
    listens on -Port.

    -Uninstall stops and deletes the service and removes the firewall rule, the Event Log source
    and -InstallDirectory. The data directory (configuration, keys, the store with its audit
    trail, the logs) is kept unless -RemoveData is given as well.

    Every change goes through ShouldProcess: -WhatIf lists what would change and changes
    nothing; -Confirm asks before each change.

.EXAMPLE
    .\Install-Easgate.ps1 -WhatIf
.EXAMPLE
    .\Install-Easgate.ps1 -SourceDirectory D:\easgate-0.1.0 -ServiceCredential (Get-Credential 'CONTOSO\easgate-svc')
.EXAMPLE
    .\Install-Easgate.ps1 -Uninstall -RemoveData
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High', DefaultParameterSetName = 'Install')]
param(
    # The folder holding easgate.exe and its companions (the unpacked Windows build).
    [Parameter(ParameterSetName = 'Install')]
    [string] $SourceDirectory = $PSScriptRoot,

    [string] $InstallDirectory = (Join-Path $env:ProgramFiles 'easgate'),

    [string] $DataDirectory = (Join-Path $env:ProgramData 'easgate'),

    # The port the firewall rule opens, and listen.port of a new easgate.json.
    [Parameter(ParameterSetName = 'Install')]
    [ValidateRange(1, 65535)]
    [int] $Port = 9090,

    # The service's account, e.g. a domain account with Exchange rights. Default: NetworkService.
    # For a group managed service account, give 'DOMAIN\name$' with an empty password.
    [Parameter(ParameterSetName = 'Install')]
    [System.Management.Automation.PSCredential] $ServiceCredential,

    # Install, but do not start the service even when doctor passes.
    [Parameter(ParameterSetName = 'Install')]
    [switch] $NoStart,

    [Parameter(Mandatory = $true, ParameterSetName = 'Uninstall')]
    [switch] $Uninstall,

    # With -Uninstall: delete the data directory too (configuration, keys, store, logs).
    [Parameter(ParameterSetName = 'Uninstall')]
    [switch] $RemoveData
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$ServiceName = 'easgate'
$EventLogKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Application\easgate'
$FirewallRuleName = 'easgate'
$Payload = @('easgate.exe', 'easgate-exchange-sim.exe', 'bridge.ps1')

function Test-Administrator {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

# Runs a Windows tool and stops the script when it fails, with its output. ('Continue' here:
# Windows PowerShell would otherwise throw on the tool's first line of standard error.)
function Invoke-Tool([string] $Program, [string[]] $Arguments) {
    $ErrorActionPreference = 'Continue'
    $output = & $Program @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed with exit code ${LASTEXITCODE}: $output"
    }
}

function Stop-EasgateService {
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($service -and $service.Status -ne 'Stopped') {
        if ($PSCmdlet.ShouldProcess($ServiceName, 'Stop the service')) {
            Stop-Service -Name $ServiceName -Force
            $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(60))
        }
    }
}

function Install-Files {
    foreach ($name in $Payload) {
        if (-not (Test-Path -LiteralPath (Join-Path $SourceDirectory $name) -PathType Leaf)) {
            throw "$SourceDirectory has no $name. Give -SourceDirectory: the folder of the Windows build."
        }
    }
    if ($PSCmdlet.ShouldProcess($InstallDirectory, 'Copy the agent, the simulator, bridge.ps1 and the DLLs')) {
        New-Item -ItemType Directory -Path $InstallDirectory -Force | Out-Null
        foreach ($name in $Payload) {
            Copy-Item -LiteralPath (Join-Path $SourceDirectory $name) -Destination $InstallDirectory -Force
        }
        Get-ChildItem -LiteralPath $SourceDirectory -Filter '*.dll' |
            Copy-Item -Destination $InstallDirectory -Force
    }
}

function Install-DataDirectory {
    if ($PSCmdlet.ShouldProcess($DataDirectory, 'Create the data directory with tls\')) {
        New-Item -ItemType Directory -Path (Join-Path $DataDirectory 'tls') -Force | Out-Null
    }
    $config = Join-Path $DataDirectory 'easgate.json'
    if (Test-Path -LiteralPath $config) {
        Write-Verbose "Keeping $config"
        return
    }
    # The default configuration, with -Port; edited as data, never as script text.
    $template = Join-Path $SourceDirectory 'easgate.json'
    if (-not (Test-Path -LiteralPath $template)) { $template = Join-Path $PSScriptRoot 'easgate.json' }
    $settings = Get-Content -LiteralPath $template -Raw | ConvertFrom-Json
    $settings.listen.port = $Port
    if ($PSCmdlet.ShouldProcess($config, 'Write the default configuration')) {
        $settings | ConvertTo-Json -Depth 8 | Set-Content -LiteralPath $config -Encoding ASCII
    }
}

# SYSTEM and Administrators: full control; the service (by its service SID): modify; nobody else.
function Protect-DataDirectory {
    if ($PSCmdlet.ShouldProcess($DataDirectory, 'Restrict access to SYSTEM, Administrators and NT SERVICE\easgate')) {
        Invoke-Tool icacls.exe @("$DataDirectory\.", '/inheritance:r', '/grant:r',
            '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F',
            "NT SERVICE\${ServiceName}:(OI)(CI)M", '/T', '/Q')
    }
}

function Register-Service {
    $binary = '"{0}" run --config "{1}"' -f (Join-Path $InstallDirectory 'easgate.exe'),
        (Join-Path $DataDirectory 'easgate.json')
    $existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($existing) {
        if ($PSCmdlet.ShouldProcess($ServiceName, "Point the service at $binary")) {
            Invoke-Tool sc.exe @('config', $ServiceName, 'binPath=', $binary, 'start=', 'auto')
        }
    }
    elseif ($PSCmdlet.ShouldProcess($ServiceName, 'Register the service (automatic start)')) {
        $arguments = @{
            Name           = $ServiceName
            BinaryPathName = $binary
            DisplayName    = 'easgate'
            Description    = 'Exchange ActiveSync policy agent: device lists, remote wipes and the device inventory for an MDM server (TCP 9090).'
            StartupType    = 'Automatic'
        }
        if ($ServiceCredential) { $arguments.Credential = $ServiceCredential }
        New-Service @arguments | Out-Null
        if (-not $ServiceCredential) {
            Invoke-Tool sc.exe @('config', $ServiceName, 'obj=', 'NT AUTHORITY\NetworkService')
        }
    }
    if ($PSCmdlet.ShouldProcess($ServiceName, 'Restart after a failure (5 s, 30 s, then every 60 s) and give the service its own SID')) {
        Invoke-Tool sc.exe @('failure', $ServiceName, 'reset=', '86400', 'actions=', 'restart/5000/restart/30000/restart/60000')
        Invoke-Tool sc.exe @('failureflag', $ServiceName, '1')
        Invoke-Tool sc.exe @('sidtype', $ServiceName, 'unrestricted')
    }
}

# mscoree.dll's message 1000 is "%1": the agent's own text (the agent logs with event ID 1000).
function Register-EventSource {
    if ($PSCmdlet.ShouldProcess('Application log', "Register the Event Log source $ServiceName")) {
        New-Item -Path $EventLogKey -Force | Out-Null
        New-ItemProperty -Path $EventLogKey -Name EventMessageFile -PropertyType ExpandString `
            -Value '%SystemRoot%\System32\mscoree.dll' -Force | Out-Null
        New-ItemProperty -Path $EventLogKey -Name TypesSupported -PropertyType DWord -Value 7 -Force | Out-Null
    }
}

function Register-FirewallRule {
    if ($PSCmdlet.ShouldProcess($FirewallRuleName, "Allow inbound TCP $Port to easgate.exe (domain, private)")) {
        Remove-NetFirewallRule -Name $FirewallRuleName -ErrorAction SilentlyContinue
        New-NetFirewallRule -Name $FirewallRuleName -DisplayName "easgate (TCP $Port)" `
            -Description 'easgate: MDM commands over TLS' -Direction Inbound -Action Allow `
            -Protocol TCP -LocalPort $Port -Program (Join-Path $InstallDirectory 'easgate.exe') `
            -Profile Domain, Private | Out-Null
    }
}

# http.sys or another program on the port would keep the agent from listening.
function Test-PortFree {
    $listeners = @(Get-NetTCPConnection -State Listen -LocalPort $Port -ErrorAction SilentlyContinue)
    foreach ($listener in $listeners) {
        $owner = Get-Process -Id $listener.OwningProcess -ErrorAction SilentlyContinue
        if ($owner -and $owner.ProcessName -eq 'easgate') { continue }
        $name = if ($listener.OwningProcess -eq 4) { 'http.sys (netsh http show urlacl / sslcert)' } elseif ($owner) { $owner.ProcessName } else { "process $($listener.OwningProcess)" }
        Write-Warning "TCP $Port is taken by $name; the agent cannot listen there until it is freed."
    }
}

function Start-IfHealthy {
    $easgate = Join-Path $InstallDirectory 'easgate.exe'
    $config = Join-Path $DataDirectory 'easgate.json'
    if (-not (Test-Path -LiteralPath $easgate)) { return }  # -WhatIf: nothing was copied
    Write-Host "easgate doctor --config `"$config`""
    & $easgate doctor --config $config
    if ($LASTEXITCODE -ne 0) {
        Write-Warning ("Not started: doctor found problems (above). Fix $config and the certificates in " +
            "$(Join-Path $DataDirectory 'tls'), then: Start-Service $ServiceName")
        return
    }
    if ($NoStart) {
        Write-Host "Installed. Start it with: Start-Service $ServiceName"
    }
    elseif ($PSCmdlet.ShouldProcess($ServiceName, 'Start the service')) {
        Start-Service -Name $ServiceName
        Write-Host "easgate is running. Logs: $(Join-Path $DataDirectory 'logs'), and the Application event log."
    }
}

function Uninstall-Easgate {
    Stop-EasgateService
    if ((Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) -and
        $PSCmdlet.ShouldProcess($ServiceName, 'Delete the service')) {
        Invoke-Tool sc.exe @('delete', $ServiceName)
    }
    if ((Get-NetFirewallRule -Name $FirewallRuleName -ErrorAction SilentlyContinue) -and
        $PSCmdlet.ShouldProcess($FirewallRuleName, 'Remove the firewall rule')) {
        Remove-NetFirewallRule -Name $FirewallRuleName
    }
    if ((Test-Path -LiteralPath $EventLogKey) -and
        $PSCmdlet.ShouldProcess('Application log', "Remove the Event Log source $ServiceName")) {
        Remove-Item -LiteralPath $EventLogKey -Recurse -Force
    }
    if ((Test-Path -LiteralPath $InstallDirectory) -and
        $PSCmdlet.ShouldProcess($InstallDirectory, 'Delete the program folder')) {
        Remove-Item -LiteralPath $InstallDirectory -Recurse -Force
    }
    if (-not (Test-Path -LiteralPath $DataDirectory)) { return }
    if ($RemoveData) {
        if ($PSCmdlet.ShouldProcess($DataDirectory, 'Delete the configuration, keys, store and logs')) {
            Remove-Item -LiteralPath $DataDirectory -Recurse -Force
        }
    }
    else {
        Write-Host "Kept $DataDirectory (configuration, keys, store, logs). -RemoveData deletes it."
    }
}

if (-not $WhatIfPreference -and -not (Test-Administrator)) {
    throw 'Run this from an elevated PowerShell (as Administrator), or add -WhatIf to see the plan.'
}
if ($PSCmdlet.ParameterSetName -eq 'Uninstall') {
    Uninstall-Easgate
    return
}
$SourceDirectory = (Resolve-Path -LiteralPath $SourceDirectory).Path
Test-PortFree
Stop-EasgateService
Install-Files
Install-DataDirectory
Register-Service
Protect-DataDirectory
Register-EventSource
Register-FirewallRule
Start-IfHealthy
