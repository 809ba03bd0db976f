# Inbound mail: GMime parsing and lead extraction, built from the library's sources so that every
# line is instrumented. Seeds: tests/fuzz/corpus/mail/.
set(fuzz_mail_dir ${PROJECT_SOURCE_DIR}/domain/mail)
add_executable(fuzz_mail fuzz_mail.cpp ${fuzz_mail_dir}/parse.cpp ${fuzz_mail_dir}/text.cpp ${fuzz_mail_dir}/lines.cpp
               ${fuzz_mail_dir}/forward_header.cpp ${fuzz_mail_dir}/signature.cpp ${fuzz_mail_dir}/lead.cpp
               ${fuzz_mail_dir}/auth_results.cpp)
target_include_directories(fuzz_mail PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(fuzz_mail PRIVATE flowtrack_runtime PkgConfig::GMIME)
target_compile_options(fuzz_mail PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_mail PRIVATE -fsanitize=fuzzer,address,undefined)
