#include "testlib.h"
#include "evaluate.h"
TEST(placeholder) { CHECK(1); }
TEST_MAIN(T(placeholder))
