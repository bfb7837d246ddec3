"""What a process reaches and writes, seen at the system-call level (strace)."""
