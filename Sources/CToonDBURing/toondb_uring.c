#include "toondb_uring.h"
int toondb_uring_available(void) { return 0; }
