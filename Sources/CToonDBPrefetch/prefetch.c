// The module is the inline function in include/toondb_prefetch.h; SwiftPM needs a source file.
#include "toondb_prefetch.h"
