# Cross-compiling easgate for 64-bit Windows with Debian's mingw-w64 (the POSIX thread model,
# which std::thread and std::mutex need). Used by .ci/build-windows; the libraries come from
# cmake/windows/build-deps.sh, whose prefix is passed as EASGATE_WINDOWS_DEPS.
#
# Tests run under Wine: CMAKE_CROSSCOMPILING_EMULATOR makes gtest discovery and ctest start
# each test executable with wine64.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

if(NOT EASGATE_WINDOWS_DEPS)
  set(EASGATE_WINDOWS_DEPS $ENV{EASGATE_WINDOWS_DEPS})
endif()
if(NOT EASGATE_WINDOWS_DEPS)
  message(FATAL_ERROR "set EASGATE_WINDOWS_DEPS to the prefix cmake/windows/build-deps.sh made")
endif()
# try_compile projects see these too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EASGATE_WINDOWS_DEPS)

# Only the cross toolchain's sysroot and the Windows libraries: never the build machine's
# /usr/include or /usr/lib, whose glibc headers and ELF libraries do not fit.
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 ${EASGATE_WINDOWS_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# One self-contained executable each: no libstdc++, libgcc or winpthread DLL to ship beside it.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(EASGATE_WINE NAMES wine64 wine PATHS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
if(EASGATE_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EASGATE_WINE})
endif()
