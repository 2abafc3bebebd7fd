# Embeds files into a target as byte arrays, generated at build time.
#
# Included, it defines
#
#   actorserve_embed_assets(TARGET NAMESPACE ns FILES f...)
#
# which, for each file `dir/name.ext`, generates `<build dir>/embedded/name.ext.cpp`
# defining `std::string_view ns::name_ext() noexcept` (its bytes, exactly; the
# storage is static and NUL-terminated) and adds it to TARGET's sources. The
# .cpp is written again whenever the file or this script changes. Nothing but
# CMake itself runs: the build calls this same script in script mode,
#
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DNAMESPACE=ns -DSYMBOL=name -P embed_assets.cmake

if(CMAKE_SCRIPT_MODE_FILE)
  foreach(var INPUT OUTPUT NAMESPACE SYMBOL)
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "embed_assets.cmake: -D${var}=... is missing")
    endif()
  endforeach()
  file(READ "${INPUT}" hex HEX)
  # Sixteen bytes a line, each as 0xNN; a trailing 0 keeps the array non-empty.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REPEAT "0x..," 16 line)
  string(REGEX REPLACE "(${line})" "\\1\n  " bytes "${bytes}")
  string(LENGTH "${hex}" digits)
  math(EXPR size "${digits} / 2")
  file(RELATIVE_PATH shown "${CMAKE_CURRENT_LIST_DIR}/.." "${INPUT}")
  file(WRITE "${OUTPUT}"
"// Generated from ${shown} by cmake/embed_assets.cmake; edit that file instead.
#include <string_view>

namespace ${NAMESPACE} {
namespace {
const unsigned char bytes[] = {
  ${bytes}0x00};
} // namespace

std::string_view ${SYMBOL}() noexcept {
  return {reinterpret_cast<const char*>(bytes), ${size}};
}

} // namespace ${NAMESPACE}
")
  return()
endif()

set(actorserve_embed_assets_script "${CMAKE_CURRENT_LIST_FILE}")

function(actorserve_embed_assets target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAMESPACE" "FILES")
  if(NOT arg_NAMESPACE OR NOT arg_FILES)
    message(FATAL_ERROR "actorserve_embed_assets(${target} NAMESPACE ns FILES f...)")
  endif()
  foreach(file IN LISTS arg_FILES)
    get_filename_component(input "${file}" ABSOLUTE)
    get_filename_component(name "${file}" NAME)
    string(MAKE_C_IDENTIFIER "${name}" symbol)
    set(output "${CMAKE_CURRENT_BINARY_DIR}/embedded/${name}.cpp")
    add_custom_command(OUTPUT "${output}"
      COMMAND "${CMAKE_COMMAND}" "-DINPUT=${input}" "-DOUTPUT=${output}"
        "-DNAMESPACE=${arg_NAMESPACE}" "-DSYMBOL=${symbol}"
        -P "${actorserve_embed_assets_script}"
      DEPENDS "${input}" "${actorserve_embed_assets_script}"
      COMMENT "Embedding ${file}"
      VERBATIM)
    target_sources(${target} PRIVATE "${output}")
  endforeach()
endfunction()
