import CToonDBChecksum

/// CRC-32C (Castagnoli) of on-disk records and blocks.
public enum CRC32C {
    @inlinable public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return toondb_crc32c_extend(crc, base, bytes.count)
    }

    @inlinable public static func checksum(_ bytes: [UInt8], extending crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, extending: crc) }
    }

    @inlinable public static func checksum(_ bytes: ArraySlice<UInt8>, extending crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, extending: crc) }
    }

    /// Stored checksums are masked (rotated and offset) so that a CRC computed over bytes that
    /// themselves contain CRCs does not degenerate (the LevelDB convention).
    @inlinable public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    @inlinable public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }

    public static var isHardwareAccelerated: Bool { toondb_crc32c_hardware() != 0 }
}
