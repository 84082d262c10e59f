// The engine's API speaks in these types (StorageError, WriteBatch, LSN): importing
// ToonDBEngine is enough to use it.
@_exported import ToonDBFormat
