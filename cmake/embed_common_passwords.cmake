# Writes OUTPUT: a C++ file holding INPUT (domain/data/common-passwords.txt) as one raw string,
# so the node checks passwords against the list without reading it from disk.
file(READ "${INPUT}" text)
string(FIND "${text}" ")ftpw\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )ftpw\"")
endif()
set(body "// Generated from domain/data/common-passwords.txt by cmake/embed_common_passwords.cmake. Do not edit.\n")
string(APPEND body "#include <string_view>\n\nnamespace flowtrack::domain::detail {\n\n")
string(APPEND body "std::string_view common_passwords_text() {\n  return R\"ftpw(${text})ftpw\";\n}\n\n")
string(APPEND body "}  // namespace flowtrack::domain::detail\n")
file(WRITE "${OUTPUT}.tmp" "${body}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
