// Intentionally empty: this target only exports CFuzzerDriver.h to Swift.
#include "CFuzzerDriver.h"
