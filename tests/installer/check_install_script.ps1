# Checks installer/windows/Install-Easgate.ps1 without running it (there is no Windows here):
#   - it parses (PowerShell's own parser, the one pwsh and Windows PowerShell use);
#   - it declares SupportsShouldProcess and has -Uninstall;
#   - every command that changes the machine sits in an `if` whose condition asks
#     $PSCmdlet.ShouldProcess, so -WhatIf changes nothing and -Confirm asks before each change;
#   - nothing turns text into script (Invoke-Expression, -EncodedCommand, [scriptblock]::Create).
# Only the engine is used (no Write-Host, no Utility module), so that easgate-pwsh-host runs it.
# Exit code: 0 when the script passes, 1 with one line per problem.
param([Parameter(Mandatory = $true)] [string] $Path)

$Changing = @(
    'Copy-Item', 'Move-Item', 'Rename-Item', 'New-Item', 'Remove-Item', 'Set-Content',
    'Add-Content', 'Out-File', 'New-ItemProperty', 'Set-ItemProperty', 'Remove-ItemProperty',
    'Set-Acl', 'New-Service', 'Set-Service', 'Start-Service', 'Stop-Service', 'Restart-Service',
    'Remove-Service', 'New-NetFirewallRule', 'Set-NetFirewallRule', 'Remove-NetFirewallRule',
    'New-EventLog', 'Remove-EventLog', 'Start-Process', 'Invoke-Tool',
    'sc.exe', 'icacls.exe', 'netsh.exe', 'msiexec.exe', 'reg.exe')
$Forbidden = @('Invoke-Expression', 'iex')

$problems = [System.Collections.Generic.List[string]]::new()
$tokens = $null
$errors = $null
$ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref] $tokens, [ref] $errors)
foreach ($e in $errors) {
    $problems.Add("does not parse, line $($e.Extent.StartLineNumber): $($e.Message)")
}

$binding = $ast.ParamBlock.Attributes | Where-Object { $_.TypeName.Name -eq 'CmdletBinding' }
$shouldProcess = $binding.NamedArguments | Where-Object { $_.ArgumentName -eq 'SupportsShouldProcess' }
if (-not $shouldProcess -or $shouldProcess.Argument.Extent.Text -ne '$true') {
    $problems.Add('[CmdletBinding(SupportsShouldProcess = $true)] is missing: no -WhatIf')
}
$parameters = @($ast.ParamBlock.Parameters | ForEach-Object { $_.Name.VariablePath.UserPath })
if ($parameters -notcontains 'Uninstall') { $problems.Add('no -Uninstall parameter') }

function Test-Guarded([System.Management.Automation.Language.Ast] $node) {
    for ($child = $node; $child.Parent; $child = $child.Parent) {
        $parent = $child.Parent
        if ($parent -isnot [System.Management.Automation.Language.IfStatementAst]) { continue }
        foreach ($clause in $parent.Clauses) {
            if ($clause.Item2 -ne $child) { continue }
            $asks = $clause.Item1.FindAll({ param($n)
                    $n -is [System.Management.Automation.Language.InvokeMemberExpressionAst] -and
                    $n.Member.Extent.Text -eq 'ShouldProcess' }, $true)
            if (@($asks).Count -gt 0) { return $true }
        }
    }
    return $false
}

$commands = $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true)
$guarded = 0
foreach ($command in $commands) {
    $name = $command.GetCommandName()
    if (-not $name) { continue }
    if ($Forbidden -contains $name) {
        $problems.Add("line $($command.Extent.StartLineNumber): $name turns text into script")
    }
    if ($Changing -notcontains $name) { continue }
    if (Test-Guarded $command) { $guarded++ }
    else { $problems.Add("line $($command.Extent.StartLineNumber): not behind ShouldProcess: $name") }
}
$text = $ast.Extent.Text
if ($text -match '-EncodedCommand|\[scriptblock\]::Create') {
    $problems.Add('builds script from text (-EncodedCommand or [scriptblock]::Create)')
}

if ($problems.Count -gt 0) {
    foreach ($p in $problems) { [Console]::Error.WriteLine("${Path}: $p") }
    exit 1
}
[Console]::Out.WriteLine("${Path}: parses; $guarded commands that change the machine, each behind ShouldProcess")
exit 0
