import Crypto
import Foundation

/// SHA-256 of a whole file, read in 4 MiB pieces.
enum FileDigest {
    static func sha256(_ path: String) throws(FormatError) -> String {
        let file = try InputFile(path: path)
        var hasher = SHA256()
        var offset = 0
        while offset < file.size {
            let count = min(4 << 20, file.size - offset)
            hasher.update(data: try file.read(at: offset, count: count))
            offset += count
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
