import ArgumentParser
import UNetCheckpoint

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a checkpoint against its schema and every tensor against its checksum.",
        discussion: "Exit 0 only when everything holds; 1 when a tensor or the structure is wrong (each one named).")

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @OptionGroup var options: CommonOptions

    struct Result: Encodable {
        var file: String
        var valid: Bool
        var schemaVersion: String?
        var checkedTensors: Int
        var failures: [Failure]
        var warnings: [String]
        struct Failure: Encodable {
            var key: String
            var reason: String
        }
        enum CodingKeys: String, CodingKey {
            case file, valid, failures, warnings
            case schemaVersion = "schema_version", checkedTensors = "checked_tensors"
        }
    }

    func run() throws {
        let result: Result
        do {
            let checkpoint = try CheckpointFile(path: file)
            let report = checkpoint.verify()
            result = Result(
                file: file, valid: report.isValid, schemaVersion: checkpoint.schemaVersion.description,
                checkedTensors: report.checkedTensors,
                failures: report.failures.map { Result.Failure(key: $0.key, reason: $0.reason) },
                warnings: checkpoint.warnings)
        } catch let error as CheckpointError where json && error.kind == .invalid {
            // A file that breaks the schema is a verification result, not a crash: report it.
            result = Result(
                file: file, valid: false, schemaVersion: nil, checkedTensors: 0,
                failures: (error.problems.isEmpty ? [error.message] : error.problems).map {
                    Result.Failure(key: "", reason: $0)
                },
                warnings: [])
        } catch let error as CheckpointError {
            printError(options.verbose ? error.detailedDescription : error.limitedDescription)
            throw ExitStatus.code(for: error)
        }
        if json {
            try JSONOutput.print(result)
        } else if result.valid {
            print(
                "\(file): OK (schema \(result.schemaVersion ?? "?"), \(result.checkedTensors) tensors, every checksum matches)"
            )
            for warning in result.warnings { printWarning(warning) }
        } else {
            print("\(file): FAILED (\(result.failures.count) of \(result.checkedTensors) tensors are corrupt)")
            for failure in result.failures { print("  \(failure.key): \(failure.reason)") }
        }
        if !result.valid { throw ExitStatus.verificationFailed }
    }
}
