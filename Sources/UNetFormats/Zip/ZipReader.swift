import CUNetZlib
import Foundation
import UNetCheckpoint

/// A zip archive opened for reading, written for hostile input: every offset, size and count of
/// the end record, the central directory and the local headers is checked against the file
/// before it is used; entries are stored or deflated (zlib), and each entry read is checked
/// against its CRC-32. Archives over 4 GiB (zip64) are refused.
final class ZipReader {
    static let maximumEntries = 100_000

    struct Entry {
        let name: String
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let headerOffset: Int
    }

    let path: String
    /// Entries by name; `entryNames` keeps the archive's order.
    let entries: [String: Entry]
    let entryNames: [String]
    private let file: InputFile

    init(path: String) throws(FormatError) {
        self.path = path
        file = try InputFile(path: path)
        func bad(_ message: String) -> FormatError {
            FormatError(.malformed, file: path, "not a valid zip archive (truncated or damaged): \(message)")
        }
        // The end-of-central-directory record: 22 bytes plus a comment of up to 65535.
        let tailLength = min(file.size, 22 + 65_535)
        let tail = try file.read(at: file.size - tailLength, count: tailLength)
        guard tail.count >= 22,
            let end = stride(from: tail.count - 22, through: 0, by: -1).first(where: {
                tail[$0] == 0x50 && tail[$0 + 1] == 0x4B && tail[$0 + 2] == 0x05 && tail[$0 + 3] == 0x06
            })
        else { throw bad("no end-of-central-directory record") }
        let count = Int(tail.le16(end + 10))
        let directorySize = Int(tail.le32(end + 12))
        let directoryOffset = Int(tail.le32(end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            throw FormatError(
                .unsupported, file: path, "zip64 archives (over 4 GiB or 65535 entries) are not supported")
        }
        guard count <= Self.maximumEntries else { throw bad("more than \(Self.maximumEntries) entries") }
        guard directoryOffset <= file.size, directorySize <= file.size - directoryOffset else {
            throw bad("the central directory lies outside the file")
        }
        let directory = try file.read(at: directoryOffset, count: directorySize)
        var position = 0
        var byName: [String: Entry] = [:]
        var names: [String] = []
        for _ in 0..<count {
            guard position + 46 <= directory.count, directory.le32(position) == 0x0201_4B50 else {
                throw bad("a damaged central directory entry")
            }
            let nameLength = Int(directory.le16(position + 28))
            let extraLength = Int(directory.le16(position + 30))
            let commentLength = Int(directory.le16(position + 32))
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= directory.count else { throw bad("a central directory entry runs past its end") }
            let entry = Entry(
                name: String(decoding: directory[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self),
                method: directory.le16(position + 10), crc: directory.le32(position + 16),
                compressedSize: Int(directory.le32(position + 20)),
                uncompressedSize: Int(directory.le32(position + 24)),
                headerOffset: Int(directory.le32(position + 42)))
            guard entry.headerOffset <= file.size - 30 else {
                throw bad("entry \(entry.name.prefix(80)) starts outside the file")
            }
            guard byName[entry.name] == nil else { throw bad("the entry \(entry.name.prefix(80)) appears twice") }
            byName[entry.name] = entry
            names.append(entry.name)
            position = next
        }
        entries = byName
        entryNames = names
    }

    /// An entry and where its data starts, after checking its local header and extent.
    private func locate(_ name: String) throws(FormatError) -> (entry: Entry, dataOffset: Int) {
        guard let entry = entries[name] else {
            throw FormatError(.malformed, file: path, "the zip has no entry \(name)")
        }
        let header = try file.read(at: entry.headerOffset, count: 30)
        guard header.le32(0) == 0x0403_4B50 else {
            throw FormatError(
                .malformed, file: path, "zip entry \(name.prefix(80)): no local header where the directory says")
        }
        let dataOffset = entry.headerOffset + 30 + Int(header.le16(26)) + Int(header.le16(28))
        guard dataOffset <= file.size, entry.compressedSize <= file.size - dataOffset else {
            throw FormatError(
                .malformed, file: path,
                "zip entry \(name.prefix(80)): its data runs past the end of the file (truncated?)")
        }
        return (entry, dataOffset)
    }

    /// A stored (uncompressed) entry's elements where they lie in `mapping`, the archive's file
    /// mapped, after checking its CRC-32; nil when the entry is compressed or does not hold whole
    /// elements.
    func mapped(_ name: String, dtype: DType, in mapping: FileMapping) throws(FormatError) -> MappedElements? {
        let (entry, dataOffset) = try locate(name)
        guard entry.method == 0, entry.compressedSize == entry.uncompressedSize,
            entry.uncompressedSize % dtype.size == 0,
            let elements = MappedElements(
                mapping: mapping, offset: dataOffset, dtype: dtype, count: entry.uncompressedSize / dtype.size,
                checkedCRC32: entry.crc)
        else { return nil }
        guard CRC32.checksum(elements.bytes) == entry.crc else {
            throw FormatError(.malformed, file: path, "zip entry \(name.prefix(80)): its CRC-32 does not match")
        }
        return elements
    }

    /// Reads one entry completely into a buffer of `T` (its size must be a multiple of `T`'s),
    /// checking its sizes before allocating and its CRC-32 after reading.
    func read<T: BitwiseCopyable>(_ name: String, as type: T.Type = UInt8.self) throws(FormatError) -> [T] {
        func bad(_ message: String) -> FormatError {
            FormatError(.malformed, file: path, "zip entry \(name.prefix(80)): \(message)")
        }
        let (entry, dataOffset) = try locate(name)
        let size = entry.uncompressedSize
        guard size % MemoryLayout<T>.stride == 0 else { throw bad("\(size) bytes do not hold whole elements") }
        switch entry.method {
        case 0:
            guard entry.compressedSize == size else { throw bad("a stored entry whose two sizes differ") }
        case 8:
            // A deflated entry cannot expand beyond about 1032:1.
            guard size <= max(1, entry.compressedSize) * 1032 else { throw bad("an impossible expansion") }
        default:
            throw FormatError(
                .unsupported, file: path, "zip entry \(name.prefix(80)) uses compression method \(entry.method)")
        }
        // Straight into the final buffer: stored data is read there, deflated data inflated there.
        var failure: FormatError?
        let values: [T] = HugePages.array(count: size / MemoryLayout<T>.stride) { buffer in
            let target = UnsafeMutableRawBufferPointer(buffer)
            do throws(FormatError) {
                if entry.method == 0 {
                    try file.read(at: dataOffset, into: target)
                } else {
                    let compressed = try file.read(at: dataOffset, count: entry.compressedSize)
                    guard Self.inflate(compressed, into: target) else { throw bad("damaged compressed data") }
                }
                guard CRC32.checksum(UnsafeRawBufferPointer(target)) == entry.crc else {
                    throw bad("its CRC-32 does not match")
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return values
    }

    /// Raw deflate (no zlib header) filling exactly `target`; false if the data is damaged or
    /// inflates to another size.
    private static func inflate(_ input: [UInt8], into target: UnsafeMutableRawBufferPointer) -> Bool {
        guard target.count > 0 else {
            // An empty entry: one spare byte lets zlib find the end of the stream.
            var spare: [UInt8] = [0]
            return spare.withUnsafeMutableBytes { inflatedCount(input, into: $0) } == 0
        }
        return inflatedCount(input, into: target) == target.count
    }

    /// The bytes a complete raw deflate stream inflated to, or nil if it is damaged or does not fit.
    private static func inflatedCount(_ input: [UInt8], into target: UnsafeMutableRawBufferPointer) -> Int? {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        let status = input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = uInt(source.count)
            stream.next_out = target.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = uInt(target.count)
            return CUNetZlib.inflate(&stream, Z_FINISH)
        }
        return status == Z_STREAM_END ? Int(stream.total_out) : nil
    }
}

extension Optional {
    fileprivate func get(orThrow error: @autoclosure () -> FormatError) throws(FormatError) -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}

extension Array where Element == UInt8 {
    fileprivate func le16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    fileprivate func le32(_ at: Int) -> UInt32 {
        UInt32(self[at]) | UInt32(self[at + 1]) << 8 | UInt32(self[at + 2]) << 16 | UInt32(self[at + 3]) << 24
    }
}
