import UNetCheckpoint

/// Where the storages a PyTorch pickle names are kept: the zip entries `<prefix>data/<key>`, or
/// the records after the pickles of a legacy (pre-1.6) file.
enum PyTorchStorages {
    case zip(ZipReader, prefix: String)
    /// The whole legacy file and, by storage key, the offset of each storage's bytes.
    case legacy(path: String, bytes: [UInt8], offsets: [String: Int])

    var path: String {
        switch self {
        case .zip(let archive, _): archive.path
        case .legacy(let path, _, _): path
        }
    }

    /// The number of bytes the file holds for a storage, nil when it holds none.
    func byteCount(of storage: StorageReference) -> Int? {
        switch self {
        case .zip(let archive, let prefix): archive.entries[prefix + "data/" + storage.key]?.uncompressedSize
        case .legacy(_, _, let offsets):
            // The legacy reader checked each record's count against the pickle's.
            offsets[storage.key] == nil ? nil : storage.elementCount * storage.dtype.size
        }
    }

    /// A storage's elements.
    func read<T: BitwiseCopyable>(_ storage: StorageReference, as type: T.Type) throws(FormatError) -> [T] {
        switch self {
        case .zip(let archive, let prefix): return try archive.read(prefix + "data/" + storage.key, as: T.self)
        case .legacy(let path, let bytes, let offsets):
            let count = storage.elementCount
            guard let offset = offsets[storage.key], MemoryLayout<T>.stride == storage.dtype.size,
                offset + count * MemoryLayout<T>.stride <= bytes.count
            else { throw FormatError(.malformed, file: path, "storage \(storage.key) is not in the file") }
            return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                bytes.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(
                        from: UnsafeRawBufferPointer(
                            rebasing: source[offset..<(offset + count * MemoryLayout<T>.stride)]))
                }
                initialized = count
            }
        }
    }

    /// A storage's elements where they lie in the mapped file, when the format allows it.
    func mapped(_ storage: StorageReference, dtype: DType, in mapping: FileMapping) throws(FormatError)
        -> MappedElements?
    {
        guard case .zip(let archive, let prefix) = self else { return nil }
        return try archive.mapped(prefix + "data/" + storage.key, dtype: dtype, in: mapping)
    }
}
