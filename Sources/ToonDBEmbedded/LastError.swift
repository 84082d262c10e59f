#if canImport(Glibc)
import Glibc
#endif
import ToonDBEngine

/// The last failure on the calling thread, for `toondb_last_error` and
/// `toondb_last_error_code`. Each thread owns one heap block (code, then the NUL-terminated
/// message), replaced on its next failure and freed when the thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { block in free(block) }
        return key
    }()

    private static let codeSize = MemoryLayout<Int32>.stride

    static func set(_ error: StorageError) {
        set(code: error.code.rawValue, message: error.message)
    }

    static func set(code: Int32, message: String) {
        let utf8 = Array(message.utf8)
        guard let block = malloc(codeSize + utf8.count + 1) else { return }
        block.storeBytes(of: code, as: Int32.self)
        let text = block.advanced(by: codeSize).assumingMemoryBound(to: UInt8.self)
        utf8.withUnsafeBufferPointer { text.update(from: $0.baseAddress!, count: utf8.count) }
        text[utf8.count] = 0
        free(pthread_getspecific(key))
        pthread_setspecific(key, block)
    }

    static var code: Int32 {
        guard let block = pthread_getspecific(key) else { return 0 }
        return block.load(as: Int32.self)
    }

    /// Valid until this thread's next failure; "" when there was none.
    static var message: UnsafePointer<CChar> {
        guard let block = pthread_getspecific(key) else { return empty }
        return UnsafePointer(block.advanced(by: codeSize).assumingMemoryBound(to: CChar.self))
    }

    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = UnsafePointer(strdup("")!)
}
