# A deliberately bad install script: check_install_script.ps1 must refuse it (a ctest expects
# exactly these complaints). It is never run.
[CmdletBinding(SupportsShouldProcess = $true)]
param([switch] $Uninstall)
if ($PSCmdlet.ShouldProcess('C:\easgate', 'Create')) { New-Item -ItemType Directory 'C:\easgate' }
Remove-Item -Recurse 'C:\easgate'
Invoke-Expression "sc.exe delete easgate"
