# Writes OUTPUT: a C++ file holding INPUT (adapters/http/api/openapi.json) as one raw string, so
# the node serves the management API's OpenAPI document without reading it from disk.
file(READ "${INPUT}" text)
string(FIND "${text}" ")ftoas\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )ftoas\"")
endif()
set(body "// Generated from adapters/http/api/openapi.json by cmake/embed_openapi.cmake. Do not edit.\n")
string(APPEND body "#include <string_view>\n\nnamespace flowtrack::http::api::detail {\n\n")
string(APPEND body "std::string_view openapi_text() {\n  return R\"ftoas(${text})ftoas\";\n}\n\n")
string(APPEND body "}  // namespace flowtrack::http::api::detail\n")
file(WRITE "${OUTPUT}.tmp" "${body}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
