import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

/// Deliberately broken or unusual files made by h5py (fixtures/broken/, listed in its
/// manifest with what a reader must say about each).
@Suite("Broken and unusual files")
struct BrokenFileTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        let file: String
        let expect: String
        let key: String?
        let why: String
        var testDescription: String { file }
    }

    static var cases: [Case] { get throws { try Fixtures.entries("broken/manifest.json") } }

    @Test("the manifest lists the broken files")
    func manifestPresent() throws {
        #expect(try Self.cases.count >= 20)
    }

    @Test("each file gets the documented verdict, naming the key or field", arguments: try cases)
    func verdict(_ entry: Case) throws {
        let path = Fixtures.path("broken/\(entry.file)")
        switch entry.expect {
        case "valid":
            let file = try CheckpointFile(path: path)
            let report = file.verify()
            if entry.key == "probe" {
                #expect(report.failures.map(\.key) == ["probe"])
            } else {
                #expect(report.isValid, "\(report.failures)")
            }
            if let key = entry.key, key != "probe" {
                let datasetPath = TensorSpec.datasetPath(forKey: key)
                #expect(file.warnings.contains { $0.contains(datasetPath) }, "\(file.warnings)")
            }
        default:
            let kind: CheckpointError.Kind =
                switch entry.expect {
                case "invalid": .invalid
                case "not_a_checkpoint": .notACheckpoint
                default: .unsupportedVersion
                }
            #expect {
                _ = try CheckpointFile(path: path)
            } throws: { error in
                guard let error = error as? CheckpointError else { return false }
                return error.kind == kind && error.description.contains(path)
                    && (entry.key.map { error.description.contains($0) } ?? true)
            }
        }
    }

    @Test("fixed-length string attributes (as Keras writes) read like variable-length ones")
    func fixedLengthStrings() throws {
        let fixed = try CheckpointFile(path: Fixtures.path("broken/fixed-length-strings.h5"))
        let plain = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5"))
        #expect(fixed.architecture == plain.architecture)
        #expect(fixed.metadata == plain.metadata)
        #expect(try fixed.read().tensors == plain.read().tensors)
    }

    @Test("a probe is read with its tolerances")
    func probe() throws {
        let file = try CheckpointFile(path: Fixtures.path("broken/probe-ok.h5"))
        let probe = try #require(try file.readProbe())
        #expect(probe.input.shape == [1, 1, 44, 44])
        #expect(probe.output.shape == [1, 2, 4, 4])
        #expect(probe.relativeTolerance == 1e-4 && probe.absoluteTolerance == 1e-5)
    }
}
