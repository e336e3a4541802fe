#!/bin/sh
# Coverage is not supported offline; see BUILD.
exit 0
