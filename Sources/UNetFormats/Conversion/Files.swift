import Foundation
import UNetCheckpoint

/// A file opened for positioned reads, with its size known up front.
final class InputFile {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(FormatError) {
        self.path = path
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw FormatError(
                .io, file: path,
                errno == ENOENT ? "no such file" : "cannot read the file: \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw FormatError(.io, file: path, "not a regular file")
        }
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Reads exactly `count` bytes at `offset`.
    func read(at offset: Int, count: Int) throws(FormatError) -> [UInt8] {
        try checkRange(offset, count)
        var failure: FormatError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(FormatError) {
                try read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
            initialized = count
        }
        if let failure { throw failure }
        return bytes
    }

    /// Fills `buffer` with the bytes at `offset`.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) {
        try checkRange(offset, buffer.count)
        if let reason = PositionedRead.fill(buffer, from: descriptor, at: offset) {
            throw FormatError(.io, file: path, "cannot read \(buffer.count) bytes at \(offset): \(reason)")
        }
    }

    private func checkRange(_ offset: Int, _ count: Int) throws(FormatError) {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw FormatError(.malformed, file: path, "a read past the end of the file (truncated?)")
        }
    }

    /// The first `count` bytes (fewer if the file is shorter).
    func prefix(_ count: Int) throws(FormatError) -> [UInt8] { try read(at: 0, count: min(count, size)) }
}

/// Writes a file atomically: a temporary file beside the destination, synced and renamed.
package final class OutputFile {
    private let handle: FileHandle

    private init(handle: FileHandle) { self.handle = handle }

    package func append(_ data: Data) throws { try handle.write(contentsOf: data) }

    package static func write(to path: String, _ produce: (OutputFile) throws -> Void) throws {
        try AtomicWrite.replace(path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw FormatError(.io, file: path, "cannot create a file beside \(path)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            defer { try? handle.close() }
            try produce(OutputFile(handle: handle))
            try handle.synchronize()
        }
    }
}
