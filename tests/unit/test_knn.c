#include "testlib.h"
#include "knn.h"
TEST(placeholder) { CHECK(1); }
TEST_MAIN(T(placeholder))
