import Crypto
import Foundation
import UNetCheckpoint

/// SHA-256 of a whole file, read in 4 MiB pieces.
package enum FileDigest {
    /// - Parameter mapping: the file already mapped (its pages are then hashed where they lie).
    static func sha256(_ path: String, mapping: FileMapping? = nil) throws(FormatError) -> String {
        if let mapping { return hex(SHA256.hash(data: mapping.bytes(at: 0, count: mapping.size)!)) }
        let file = try InputFile(path: path)
        var hasher = SHA256()
        var offset = 0
        while offset < file.size {
            let count = min(4 << 20, file.size - offset)
            hasher.update(data: try file.read(at: offset, count: count))
            offset += count
        }
        return hex(hasher.finalize())
    }

    /// SHA-256 of bytes in memory, as lower-case hex.
    package static func sha256(bytes: some DataProtocol) -> String { hex(SHA256.hash(data: bytes)) }

    private static func hex(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
}

/// A file's SHA-256 computed on another thread while the caller reads the same file (a 124 MB
/// checkpoint takes about 60 ms to hash, as long as it takes to read).
final class PendingDigest: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<String, FormatError>?

    init(path: String, mapping: FileMapping?) {
        DispatchQueue.global().async {
            do throws(FormatError) {
                self.result = .success(try FileDigest.sha256(path, mapping: mapping))
            } catch {
                self.result = .failure(error)
            }
            self.done.signal()
        }
    }

    /// Waits for the digest.
    func value() throws(FormatError) -> String {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
