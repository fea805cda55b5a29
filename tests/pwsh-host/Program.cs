// easgate-pwsh-host: a stand-in for `pwsh -File script.ps1 -Name value ...`.
//
// The tests run powershell/bridge.ps1 for real. Where pwsh itself cannot be installed (no
// package for it on the machine's registries), this program hosts the same PowerShell 7 engine
// from the System.Management.Automation NuGet package. What it lacks is pwsh's own modules
// beyond the engine (Microsoft.PowerShell.Utility and .Management): bridge.ps1 uses none of
// them, and this host keeps it honest about that.
//
// Usage: easgate-pwsh-host [-NoLogo] [-NoProfile] [-NonInteractive] [-ExecutionPolicy POLICY]
//                          -File SCRIPT [-Name value | -Switch]...
// Exit code: the script's `exit N`, else 1 if it failed, else 0.
using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

internal static class Program
{
    private static int Main(string[] args)
    {
        int at = 0;
        while (at < args.Length)
        {
            if (args[at] is "-NoLogo" or "-NoProfile" or "-NonInteractive") at++;
            // As pwsh: the policy applies on Windows only, where this host bypasses it anyway.
            else if (args[at] == "-ExecutionPolicy" && at + 1 < args.Length) at += 2;
            else break;
        }
        if (at + 1 >= args.Length || !args[at].Equals("-File", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine(
                "usage: easgate-pwsh-host [-NoLogo] [-NoProfile] [-NonInteractive] [-ExecutionPolicy POLICY] -File SCRIPT [-Name value | -Switch]...");
            return 64;
        }
        string script = Path.GetFullPath(args[at + 1]);
        var parameters = new List<(string Name, string? Value)>();
        for (int i = at + 2; i < args.Length; i++)
        {
            if (!args[i].StartsWith('-') || args[i].Length < 2)
            {
                Console.Error.WriteLine($"easgate-pwsh-host: expected -Name, got '{args[i]}'");
                return 64;
            }
            string name = args[i].Substring(1);
            bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith('-');
            parameters.Add((name, hasValue ? args[++i] : null));
        }

        var state = InitialSessionState.CreateDefault2();
        if (OperatingSystem.IsWindows())
        {
            state.ExecutionPolicy = Microsoft.PowerShell.ExecutionPolicy.Bypass;
        }
        using var runspace = RunspaceFactory.CreateRunspace(state);
        runspace.Open();
        using var shell = PowerShell.Create();
        shell.Runspace = runspace;
        shell.AddCommand(script);
        foreach (var (name, value) in parameters)
        {
            if (value is null) shell.AddParameter(name);
            else shell.AddParameter(name, value);
        }
        try
        {
            shell.Invoke();
        }
        catch (RuntimeException e)
        {
            Console.Error.WriteLine($"{script}: {e.ErrorRecord}");
            return 1;
        }
        foreach (var error in shell.Streams.Error)
        {
            Console.Error.WriteLine($"{script}: {error}");
        }
        object? code = runspace.SessionStateProxy.GetVariable("LASTEXITCODE");
        if (code is int exitCode) return exitCode;
        return shell.HadErrors ? 1 : 0;
    }
}
