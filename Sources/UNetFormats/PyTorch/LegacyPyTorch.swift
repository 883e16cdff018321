/// Reads the legacy (pre-1.6) `torch.save` format: five pickles in a row (the magic number, the
/// protocol version 1001, the system info, the object, the sorted list of storage keys), then
/// each storage as an 8-byte little-endian element count and its raw bytes.
enum LegacyPyTorch {
    /// The first pickle: the magic number 0x1950a86a20f9469cfc6c as a LONG1, protocol 2.
    static let magic: [UInt8] = [
        0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E,
    ]

    static func isLegacy(_ head: [UInt8]) -> Bool { head.starts(with: magic) }

    /// The object pickle's value, the dialect it was read in, and the storages.
    static func load(_ path: String) throws(FormatError) -> (
        root: PickleValue, dialect: RestrictedUnpickler.Dialect, storages: PyTorchStorages
    ) {
        let file = try InputFile(path: path)
        let bytes = try file.read(at: 0, count: file.size)
        guard isLegacy(bytes) else {
            throw FormatError(.unsupported, file: path, "a pickle file that is not a torch.save checkpoint")
        }
        do throws(FormatError) {
            var position = magic.count
            func next(_ dialect: RestrictedUnpickler.Dialect = .checkpoint) throws(FormatError) -> (
                PickleValue, RestrictedUnpickler
            ) {
                var unpickler = RestrictedUnpickler(bytes, from: position, dialect: dialect)
                let value = try unpickler.load()
                position = unpickler.position
                return (value, unpickler)
            }
            guard case .int(1001) = try next().0 else {
                throw FormatError(.unsupported, file: path, "a legacy torch.save file of an unknown protocol version")
            }
            let (info, _) = try next()
            if case .dict(let dict) = info,
                let order = dict.entries.first(where: {
                    if case .string("little_endian") = $0.key { true } else { false }
                }),
                case .bool(false) = order.value
            {
                throw FormatError(.unsupported, file: path, "the checkpoint was saved big-endian")
            }
            let head = Array(bytes[position..<min(bytes.count, position + 600)])
            let dialect: RestrictedUnpickler.Dialect =
                RestrictedUnpickler.startsWithObject(head) ? .moduleTree : .checkpoint
            let (root, objectReader) = try next(dialect)
            guard case .list(let keyList) = try next().0 else {
                throw FormatError(.malformed, file: path, "the legacy storage key list is missing")
            }
            var offsets: [String: Int] = [:]
            for item in keyList.items {
                guard case .string(let key) = item, let storage = objectReader.storages[key] else {
                    throw FormatError(.malformed, file: path, "the legacy key list names a storage the pickle does not")
                }
                guard bytes.count - position >= 8 else {
                    throw FormatError(.malformed, file: path, "storage \(key) is missing: the file ends before it")
                }
                let count = bytes[position..<(position + 8)].reversed().reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
                position += 8
                guard count == UInt64(storage.elementCount) else {
                    throw FormatError(
                        .malformed, file: path,
                        "storage \(key) holds \(count) elements where the pickle declares \(storage.elementCount)")
                }
                let size = storage.elementCount * storage.dtype.size
                guard size <= bytes.count - position else {
                    throw FormatError(
                        .malformed, file: path,
                        "storage \(key) runs past the end of the file (\(size) bytes declared, "
                            + "\(bytes.count - position) left: truncated?)")
                }
                offsets[key] = position
                position += size
            }
            return (root, dialect, .legacy(path: path, bytes: bytes, offsets: offsets))
        } catch {
            throw error.attributed(to: path)
        }
    }
}
