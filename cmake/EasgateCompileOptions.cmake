# Project-wide compile options, applied to every easgate target through
# easgate_apply_options(<target>) so third-party code is never built with -Werror.

add_library(easgate_options INTERFACE)
target_compile_options(easgate_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(EASGATE_WERROR)
  target_compile_options(easgate_options INTERFACE -Werror)
endif()
if(EASGATE_DEBUG_INFO STREQUAL "lines")
  # Comes after the build type's -g on the command line, and the last -g level counts.
  target_compile_options(easgate_options INTERFACE $<$<CONFIG:RelWithDebInfo>:-g1>)
endif()
if(EASGATE_SANITIZE)
  # vptr is off: cpprestsdk's headers call into its shared library, whose type information the
  # check cannot match ("does not point to an object of type 'basic_streambuf'" in
  # astreambuf.h), a false positive in third-party code on every client request.
  target_compile_options(easgate_options INTERFACE -fsanitize=address,undefined -fno-sanitize=vptr
                                                   -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(easgate_options INTERFACE -fsanitize=address,undefined)
endif()
if(EASGATE_TSAN)
  # -Wno-tsan: GCC warns that ThreadSanitizer does not model atomic_thread_fence, which Asio's
  # handlers use; -Werror would stop the build on third-party code.
  target_compile_options(easgate_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer
                                                   -Wno-tsan)
  target_link_options(easgate_options INTERFACE -fsanitize=thread)
endif()
if(EASGATE_FUZZ)
  # Instrument every library for coverage; fuzz targets add -fsanitize=fuzzer themselves.
  target_compile_options(easgate_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                                   -fno-omit-frame-pointer)
  target_link_options(easgate_options INTERFACE -fsanitize=address,undefined)
endif()
# Hardening as Debian builds its packages (lintian checks the .deb for it): fortified libc
# calls where the compiler optimises, and a read-only relocation table bound at start. Not in
# the sanitizer and fuzz builds, whose own checks FORTIFY would get in the way of.
if(NOT WIN32 AND NOT EASGATE_SANITIZE AND NOT EASGATE_TSAN AND NOT EASGATE_FUZZ)
  target_compile_definitions(easgate_options INTERFACE
                             $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
  target_compile_options(easgate_options INTERFACE -fstack-protector-strong)
  target_link_options(easgate_options INTERFACE -Wl,-z,relro,-z,now)
endif()
# cpprestsdk defines a macro U(x) that breaks fmt/spdlog templates (STYLE.md); turn it off
# everywhere so include order never matters.
target_compile_definitions(easgate_options INTERFACE _TURN_OFF_PLATFORM_STRING)
# The repository root is the include root: #include "powershell/clixml/reader.h".
target_include_directories(easgate_options INTERFACE ${PROJECT_SOURCE_DIR})

# Platform code lives in posix/ and windows/ subfolders; this picks the one to build.
if(WIN32)
  set(EASGATE_PLATFORM_DIR windows)
  # Windows 10 / Server 2016 APIs; no min/max macros; the Windows libraries the static OpenSSL,
  # Asio and the service code need.
  target_compile_definitions(easgate_options INTERFACE _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN
                                                       NOMINMAX)
  target_link_libraries(easgate_options INTERFACE ws2_32 mswsock crypt32 bcrypt advapi32 shell32
                                                  ole32)
  if(MINGW)
    # Debian's Boost 1.74 headers under C++20: <boost/process> uses std::exchange without
    # including <utility>, and winapi's declarations carry an MSVC-only __kernel_entry.
    target_compile_options(easgate_options INTERFACE -include utility)
    target_compile_definitions(easgate_options INTERFACE __kernel_entry=)
  endif()
else()
  set(EASGATE_PLATFORM_DIR posix)
endif()
