#include "testlib.h"
#include "uniqueness.h"
TEST(placeholder) { CHECK(1); }
TEST_MAIN(T(placeholder))
