// Symbol visibility of the license client library: only what carries GATEHOUSE_LICENSE_API is
// exported from libgatehouse_license.so (everything else is built with -fvisibility=hidden).
#pragma once

#if defined(GATEHOUSE_LICENSE_BUILDING)
#define GATEHOUSE_LICENSE_API __attribute__((visibility("default")))
#else
#define GATEHOUSE_LICENSE_API
#endif
