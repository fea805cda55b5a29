# Builds tests/pwsh-host (easgate-pwsh-host) with the .NET SDK, for the tests that run
# bridge.ps1 for real. Never fails the build: where it cannot be built (no NuGet registry, no
# SDK), it says so loudly and those tests skip, saying why.
#   cmake -DDOTNET=... -DPROJECT_FILE=... -DOUT=... -DWORK=... -P BuildPwshHost.cmake
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
          ${DOTNET} publish ${PROJECT_FILE} -c Release -o ${OUT} --artifacts-path ${WORK}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  file(REMOVE ${OUT}/easgate-pwsh-host)
  message(WARNING
    "easgate-pwsh-host was NOT built (dotnet publish exited ${result}); the tests that run "
    "bridge.ps1 in PowerShell will be skipped.\n${output}")
endif()
