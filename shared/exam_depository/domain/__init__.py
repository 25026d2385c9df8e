"""The rules as plain functions of plain values, the types they speak, and the errors they raise: no I/O."""
