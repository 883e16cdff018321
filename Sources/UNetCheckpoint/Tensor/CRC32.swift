import CUNetZlib

/// CRC-32 (ISO-HDLC: zlib's, gzip's, PNG's) over bytes, computed by zlib.
public enum CRC32 {
    /// The checksum of `bytes`.
    /// - Parameter previous: the checksum of the bytes before these, to checksum data in pieces.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return previous }
        return UInt32(crc32_z(UInt(previous), base.assumingMemoryBound(to: UInt8.self), bytes.count))
    }
}
