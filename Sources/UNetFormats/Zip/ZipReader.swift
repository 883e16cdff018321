import Foundation
import UNetCheckpoint
import ZIPFoundation

/// A zip archive opened for reading, with bounds on entry counts and sizes and a CRC-32 check
/// of every entry read (through zlib).
final class ZipReader {
    static let maximumEntries = 100_000

    let path: String
    private let archive: Archive
    /// Entries by path, in archive order.
    let entries: [String: Entry]
    let entryNames: [String]
    private let fileSize: UInt64

    init(path: String) throws(FormatError) {
        self.path = path
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw FormatError(
                .malformed, file: path, "not a readable zip archive (truncated or damaged)", cause: "\(error)")
        }
        fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        var byName: [String: Entry] = [:]
        var names: [String] = []
        for entry in archive {
            names.append(entry.path)
            byName[entry.path] = entry
            if names.count > Self.maximumEntries {
                throw FormatError(.malformed, file: path, "the zip has more than \(Self.maximumEntries) entries")
            }
        }
        entries = byName
        entryNames = names
    }

    /// Reads one entry completely into a buffer of `T` (its size must be a multiple of
    /// `T`'s), checking its declared size before allocating and its CRC-32 after reading.
    func read<T: BitwiseCopyable>(_ name: String, as type: T.Type = UInt8.self) throws(FormatError) -> [T] {
        guard let entry = entries[name] else {
            throw FormatError(.malformed, file: path, "the zip has no entry \(name)")
        }
        let size = entry.uncompressedSize
        // A stored entry cannot exceed the file; a deflated one cannot expand beyond ~1032:1.
        let bound = entry.isCompressed ? fileSize.multipliedReportingOverflow(by: 1032).partialValue : fileSize
        guard size <= bound, size <= UInt64(Int.max), Int(size) % MemoryLayout<T>.stride == 0 else {
            throw FormatError(.malformed, file: path, "zip entry \(name) declares an impossible size (\(size) bytes)")
        }
        let count = Int(size) / MemoryLayout<T>.stride
        var filled = 0
        var crc: UInt32 = 0
        do {
            let values = try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                _ = try archive.extract(entry, bufferSize: max(1, min(Int(size), 1 << 22)), skipCRC32: true) { chunk in
                    guard filled + chunk.count <= raw.count else { throw ZipSizeMismatch() }
                    chunk.withUnsafeBytes { source in
                        raw.baseAddress!.advanced(by: filled).copyMemory(
                            from: source.baseAddress!, byteCount: chunk.count)
                        crc = CRC32.checksum(UnsafeRawBufferPointer(source), continuing: crc)
                    }
                    filled += chunk.count
                }
                guard filled == raw.count else { throw ZipSizeMismatch() }
                initialized = count
            }
            guard crc == entry.checksum else {
                throw FormatError(.malformed, file: path, "zip entry \(name) is damaged (its CRC-32 does not match)")
            }
            return values
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(
                .malformed, file: path, "cannot read zip entry \(name) (truncated or damaged)", cause: "\(error)")
        }
    }

    private struct ZipSizeMismatch: Error {}
}
