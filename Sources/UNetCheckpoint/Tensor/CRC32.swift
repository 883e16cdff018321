import CUNetZlib

/// CRC-32 (ISO-HDLC: zlib's, gzip's, PNG's) over bytes, computed by zlib.
public enum CRC32 {
    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return UInt32(crc32_z(0, base.assumingMemoryBound(to: UInt8.self), bytes.count))
    }
}
