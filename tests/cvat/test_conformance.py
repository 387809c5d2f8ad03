#!/usr/bin/python3
# placeholder; being written.
print("ok 1 - placeholder")
