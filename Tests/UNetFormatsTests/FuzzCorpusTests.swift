import Foundation
import TestSupport
import Testing
@_spi(Fuzzing) import UNetFormats

/// The fuzzer's committed corpus (fixtures/fuzz/): every seed is a valid file its parser accepts;
/// a case kept from a fuzzing run is named `regression-NAME-accepted.*` or `-refused.*` after
/// the verdict it must keep getting (without a crash).
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static func files(_ format: String) -> [String] {
        let folder = Fixtures.path("fuzz/\(format)")
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { "\(folder)/\($0)" }
    }

    static func accepts(_ format: String, _ path: String) -> Bool {
        let data = FileManager.default.contents(atPath: path) ?? Data()
        switch format {
        case "pickle": return FuzzTargets.pickle([UInt8](data))
        case "safetensors": return FuzzTargets.safetensors(path)
        case "zip": return FuzzTargets.pytorch(path)
        case "mapping": return FuzzTargets.mapping(data)
        case "rdf": return FuzzTargets.bioimageio(data)
        default: return false
        }
    }

    @Test(
        "seeds are accepted, regression cases refused", arguments: ["pickle", "safetensors", "zip", "mapping", "rdf"])
    func replay(format: String) {
        let files = Self.files(format)
        #expect(!files.isEmpty)
        for path in files {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let expected = !(name.hasPrefix("regression-") && name.hasSuffix("-refused"))
            #expect(Self.accepts(format, path) == expected, "\(path)")
        }
    }
}
