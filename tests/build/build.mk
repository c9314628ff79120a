# SPDX-License-Identifier: MIT
TEST_SCRIPTS += tests/build/test-install.sh
