# Stripe webhook input: the Stripe-Signature header and event bodies (crypto/stripe_signature.cpp
# and domain/stripe_event.cpp, built from their sources). Seeds: tests/fuzz/corpus/fuzz_stripe/.
add_executable(fuzz_stripe fuzz_stripe.cpp ${PROJECT_SOURCE_DIR}/crypto/stripe_signature.cpp ${PROJECT_SOURCE_DIR}/domain/stripe_event.cpp)
target_include_directories(fuzz_stripe PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(fuzz_stripe PRIVATE flowtrack_runtime OpenSSL::Crypto Boost::json)
target_compile_options(fuzz_stripe PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_stripe PRIVATE -fsanitize=fuzzer,address,undefined)
