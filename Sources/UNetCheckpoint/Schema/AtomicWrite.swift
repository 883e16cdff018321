import Foundation

/// Writes a file so that readers see either the old file or the complete new one, never a part:
/// the content goes to a temporary file beside the destination, which is closed, synced to disk
/// and renamed over the destination; the directory is synced too. On any failure the temporary
/// file is removed and the destination is untouched.
public enum AtomicWrite {
    /// What names a temporary file: `.NAME.unet-ckpt-partial-HOST-PID-RANDOM` beside `NAME`,
    /// so that a user who sees one knows what it is, and a later write knows whose it is.
    public static let temporaryMarker = ".unet-ckpt-partial-"
    /// The prefix of the temporary files of earlier versions (`.unet-ckpt-tmp-PID-RANDOM-NAME`).
    static let legacyPrefix = ".unet-ckpt-tmp-"

    /// Calls `produce` with a fresh temporary path (nothing exists there yet) and then moves the
    /// file it made to `destination`. The leftovers of killed writers in the destination's
    /// folder are removed first.
    public static func replace(_ destination: String, _ produce: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: destination)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(.io, file: destination, "cannot write: the directory \(directory) does not exist")
        }
        guard access(directory, W_OK) == 0 else {
            throw CheckpointError(.io, file: destination, "cannot write: \(systemError()) (directory \(directory))")
        }
        removeLeftovers(in: directory)
        let temporary = directory + "/" + temporaryName(for: url.lastPathComponent)
        do {
            try produce(temporary)
            try syncFile(temporary, destination: destination)
            guard rename(temporary, destination) == 0 else {
                throw CheckpointError(.io, file: destination, "cannot move the new file into place: \(systemError())")
            }
            try syncFile(directory, destination: destination)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Writes `data` to `destination` atomically.
    public static func write(_ data: Data, to destination: String) throws {
        try replace(destination) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw CheckpointError(.io, file: destination, "cannot write the file")
            }
        }
    }

    /// The name of this process's temporary file for a file called `name`.
    static func temporaryName(for name: String) -> String {
        let random = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return "." + name + temporaryMarker + host + "-\(getpid())-" + random
    }

    /// This machine's name as it appears in temporary names (letters, digits, `.`, `_` and `-`):
    /// process ids are only checked against the processes of the machine that wrote the file.
    static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let kept = name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || ".-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "localhost" : String(kept.prefix(64))
    }()

    /// The process that is writing (or was writing, when killed) the temporary file `name` on
    /// this machine; nil when `name` is not a temporary file of ours, or one from another machine.
    public static func writer(ofTemporary name: String) -> Int32? {
        if name.hasPrefix(legacyPrefix) {
            let fields = name.dropFirst(legacyPrefix.count).split(separator: "-", maxSplits: 2)
            guard fields.count == 3, let pid = Int32(fields[0]), pid > 0 else { return nil }
            return pid
        }
        guard name.hasPrefix("."), let marker = name.range(of: temporaryMarker, options: .backwards) else { return nil }
        let fields = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 3, fields.dropLast(2).joined(separator: "-") == host,
            let pid = Int32(fields[fields.count - 2]), pid > 0
        else { return nil }
        return pid
    }

    /// Removes the temporary files in `directory` whose writers no longer run (killed mid-write),
    /// so that interrupted writes never pile up. Every command that writes a file does this in
    /// the folder it writes to; the supervisor does it after a child it had to stop.
    public static func removeLeftovers(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            guard let pid = writer(ofTemporary: name) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(directory + "/" + name)
            }
        }
    }

    private static func syncFile(_ path: String, destination: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw CheckpointError(.io, file: destination, "cannot sync \(path) to disk: \(systemError())")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw CheckpointError(.io, file: destination, "cannot sync \(path) to disk: \(systemError())")
        }
    }

    private static func systemError() -> String { String(cString: strerror(errno)) }
}
