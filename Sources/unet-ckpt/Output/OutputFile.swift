import Foundation
import UNetCheckpoint

/// Writes a command's output file atomically; a failure is reported as a write failure (exit 3).
func writeOutputFile(_ data: Data, to path: String, options: CommonOptions) throws {
    try reportingErrors(options, while: .writing) {
        try AtomicWrite.write(data, to: path)
    }
}
