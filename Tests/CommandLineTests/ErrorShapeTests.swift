import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats
import UNetImages

/// One error shape: what a library throws for a file is a ``UNetCkptError`` with a code, and
/// every command that reads that file reports it the same way, with the exit code docs/cli.md
/// gives that code.
@Suite("Errors: one shape, one mapping to exit codes")
struct ErrorShapeTests {
    /// docs/cli.md, "Exit codes", for an error met while reading an input.
    static func documentedExit(_ code: ErrorCode) -> Int32 {
        switch code {
        case .invalid, .checksumMismatch, .behaviourMismatch: 1
        case .notACheckpoint, .unsupportedVersion, .malformed, .refused, .unsupported, .io: 2
        case .writeFailed: 3
        case .invalidArgument: 64
        }
    }

    static let damaged = [
        "broken/not-hdf5.h5", "broken/bad-architecture-json.h5", "broken/architecture-inconsistent.h5",
        "broken/major-99.h5", "broken/truncated.h5", "hostile-json",
    ]

    /// The file, made when it is not a fixture: an architecture JSON cut off in the middle.
    static func path(of name: String, in directory: TemporaryDirectory) throws -> String {
        guard name == "hostile-json" else { return Fixtures.path(name) }
        let path = directory.file("cut.json")
        try Data(#"{ "architecture": { "name": "#.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("each command reads a damaged file into the importer's error and its documented exit", arguments: damaged)
    func sameReportEverywhere(_ name: String) throws {
        let directory = try TemporaryDirectory()
        let file = try Self.path(of: name, in: directory)
        let thrown: any UNetCkptError
        do {
            _ = try CheckpointImporter.read(file)
            Issue.record("\(name) was read")
            return
        } catch let error as any UNetCkptError {
            thrown = error
        }
        #expect(thrown.file == file, "the error names the file")
        let expected = Self.documentedExit(thrown.code)
        let image = Fixtures.path("images/grey8.png")
        let commands: [[String]] = [
            ["inspect", file], ["draw", file, directory.file("x.svg")], ["convert", file, directory.file("x.pth")],
            ["predict", file, "--input", image, "--output", directory.file("x.png")],
        ]
        for command in commands {
            let result = try runUNetCkpt(command)
            #expect(result.status == expected, "\(command[0]) \(name): \(result.standardError)")
            let first = result.standardError.split(separator: "\n").first.map(String.init) ?? ""
            if command[0] == "draw" && file.hasSuffix(".json") {
                // draw also takes a bare architecture JSON, and says why this one is not.
                #expect(first.hasPrefix("error: \(file): not an architecture JSON"))
            } else {
                #expect(first == "error: " + thrown.description.split(separator: "\n")[0], "\(command[0]) \(name)")
            }
        }
        #expect(try directory.contents().filter { $0.hasPrefix("x.") }.isEmpty, "nothing written")
        // diff: any unreadable side is exit 2, as exit 1 means "they differ".
        #expect(try runUNetCkpt(["diff", file, Fixtures.path("h5py/paper-tiny.h5")]).status == 2)
    }

    @Test("images and volumes: a damaged one is .malformed, exit 2, naming the file")
    func damagedImage() throws {
        let directory = try TemporaryDirectory()
        let png = directory.file("cut.png")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/grey8.png")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: png))
        #expect(throws: ImageError.self) { try PixelImage(contentsOf: png) }
        do {
            _ = try PixelImage(contentsOf: png)
        } catch {
            #expect(error.code == .malformed && error.file == png)
        }
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", png, "--output", directory.file("x.png"),
        ])
        #expect(result.status == 2)
        #expect(result.standardError.hasPrefix("error: \(png): "))
    }

    @Test("an output that cannot be written is .writeFailed or .io while writing: exit 3")
    func unwritable() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/grey8.png"),
            "--output", directory.file("no/such/folder/mask.png"),
        ])
        #expect(result.status == 3, "\(result.standardError)")
        #expect(result.standardError.contains("no/such/folder/mask.png"))
    }
}
