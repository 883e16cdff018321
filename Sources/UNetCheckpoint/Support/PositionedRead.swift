import Foundation

/// Reads a file by position, for the readers of every module.
package enum PositionedRead {
    /// Fills `buffer` with the bytes at `offset` of `descriptor` (`pread`, resumed after short or
    /// interrupted reads).
    /// - Returns: nil once every byte is read, otherwise why not: the end of the file came first,
    ///   or the system's error.
    package static func fill(_ buffer: UnsafeMutableRawBufferPointer, from descriptor: Int32, at offset: Int) -> String?
    {
        var done = 0
        while done < buffer.count {
            let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? "the file ends inside it" : String(cString: strerror(errno)) }
            done += count
        }
        return nil
    }
}
