// The header holds everything (an inline function); SwiftPM needs one source file per C target.
#include "toondb_prefetch.h"
