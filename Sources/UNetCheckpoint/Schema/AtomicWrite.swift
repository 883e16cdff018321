import Foundation

/// Writes a file so that readers see either the old file or the complete new one, never a part:
/// the content goes to a temporary file beside the destination, which is closed, synced to disk
/// and renamed over the destination; the directory is synced too. On any failure the temporary
/// file is removed and the destination is untouched.
public enum AtomicWrite {
    /// The prefix of the temporary files, so that leftovers of a killed process can be recognised.
    public static let temporaryPrefix = ".unet-ckpt-tmp-"

    /// Calls `produce` with a fresh temporary path (nothing exists there yet) and then moves the
    /// file it made to `destination`.
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
        removeStaleTemporaries(in: directory, for: url.lastPathComponent)
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let temporary = directory + "/" + temporaryPrefix + "\(getpid())-\(suffix)-" + url.lastPathComponent
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

    /// Removes temporary files for `name` left by writers that no longer run (killed mid-write),
    /// so that interrupted writes never pile up.
    static func removeStaleTemporaries(in directory: String, for name: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for candidate in names where candidate.hasPrefix(temporaryPrefix) && candidate.hasSuffix("-" + name) {
            let fields = candidate.dropFirst(temporaryPrefix.count).split(separator: "-", maxSplits: 2)
            guard fields.count == 3, let pid = Int32(fields[0]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(directory + "/" + candidate)
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
