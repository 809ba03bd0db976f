# JWT verification (HS256, RS256 against a PEM key and a JWKS), JWKS parsing, base64url and base32
# (flowtrack_crypto, instrumented by the fuzz build's flags). Seeds: tests/fuzz/corpus/fuzz_jwt/.
add_executable(fuzz_jwt fuzz_jwt.cpp)
target_link_libraries(fuzz_jwt PRIVATE flowtrack_crypto)
target_compile_options(fuzz_jwt PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_jwt PRIVATE -fsanitize=fuzzer,address,undefined)
