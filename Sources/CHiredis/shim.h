// Debian installs hiredis under /usr/include/hiredis/; include it by that path so the
// module builds even when pkg-config's -I is dropped.
#include <hiredis/hiredis.h>
