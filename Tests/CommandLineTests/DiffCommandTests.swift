import Foundation
import TestSupport
import Testing

/// `unet-ckpt diff` end to end: exit codes, the text summary, --json, conversions made at test time.
@Suite("diff command")
struct DiffCommandTests {
    let base = Fixtures.path("diff/milesial-small.pth")

    func document(_ result: CommandResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
    }

    @Test("a fine-tune differs from its base (exit 1): the summary comes first and names the tensors")
    func fineTune() throws {
        let pair = try DiffManifest.pair("finetuned")
        let result = try runUNetCkpt(["diff", Fixtures.path(pair.a), Fixtures.path(pair.b), "--limit", "0"])
        #expect(result.status == 1)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count > 3 && lines[2].hasPrefix("DIFFERENT"))
        let tableStart = try #require(lines.firstIndex { $0.hasPrefix("Tensors that differ") })
        let rows = lines[(tableStart + 2)...].prefix { $0.hasPrefix("  ") }
        #expect(Set(rows.map { String($0.split(separator: " ")[0]) }) == Set(pair.changed.keys))
        let largest = try #require(pair.changed.max { $0.value.maxAbs < $1.value.maxAbs })
        #expect(lines.contains { $0.hasPrefix("  largest change: \(largest.key) ") })
        #expect(lines[3].contains(" identical, \(pair.changed.count) changed, "))
        for layer in pair.numBatchesTracked.keys { #expect(result.standardOutput.contains("  \(layer): ")) }
        #expect(!result.standardOutput.contains("encoder.0.conv0.weight"))
    }

    @Test(
        "--json has the documented fields; the missing tensor and metadata pairs", arguments: ["missing", "relabelled"])
    func json(_ name: String) throws {
        let pair = try DiffManifest.pair(name)
        let result = try runUNetCkpt(["diff", "--json", Fixtures.path(pair.a), Fixtures.path(pair.b)])
        #expect(result.status == 1)
        let json = try document(result)
        for key in [
            "a", "b", "equal", "values_equal", "tolerance", "counts", "largest_change", "tensors", "only_in_a",
            "only_in_b", "shape_mismatches", "dtype_differences", "architecture_known", "architecture", "metadata",
            "ignored_metadata", "num_batches_tracked",
        ] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["equal"] as? Bool == false)
        let onlyInA = try #require(json["only_in_a"] as? [[String: Any]])
        #expect(onlyInA.compactMap { $0["key"] as? String } == pair.onlyInA)
        let metadata = try #require(json["metadata"] as? [[String: Any]])
        #expect(metadata.compactMap { $0["field"] as? String } == pair.metadata)
        let side = try #require(json["b"] as? [String: Any])
        #expect(side["layout"] as? String == "milesial")
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        let row = try #require(tensors.first)
        for key in [
            "key", "shape", "dtype_a", "dtype_b", "elements", "changed", "changed_fraction", "max_abs", "max_rel",
            "cosine", "non_finite",
        ] {
            #expect(row[key] != nil, "missing tensors[].\(key)")
        }
        let counts = try #require(json["counts"] as? [String: Int])
        #expect(counts["compared"] == tensors.count && counts["changed"] == 0)
    }

    @Test("a conversion made by convert diffs equal against its source (exit 0)")
    func conversionEqual() throws {
        let directory = try TemporaryDirectory()
        for output in ["small.h5", "small.safetensors"] {
            #expect(try runUNetCkpt(["convert", base, directory.file(output)]).status == 0)
            let result = try runUNetCkpt(["diff", base, directory.file(output)])
            #expect(result.status == 0, "\(output): \(result.standardOutput)")
            #expect(result.standardOutput.split(separator: "\n")[2] == "EQUAL: identical values")
            let json = try document(try runUNetCkpt(["diff", "--json", directory.file(output), base]))
            #expect(json["equal"] as? Bool == true)
        }
    }

    @Test("a float16 conversion: equal within tolerance, the dtype reported; --ignore-dtype makes it exit 0")
    func float16() throws {
        let directory = try TemporaryDirectory()
        let half = directory.file("small-f16.h5")
        #expect(try runUNetCkpt(["convert", base, half, "--dtype", "f16"]).status == 0)
        // Round to nearest float16: |a − b| ≤ 2⁻¹¹·|b| for normal values, ≤ 2⁻²⁵ for subnormal ones.
        let tolerance = ["--rtol", "0.00048828125", "--atol", "2.98023223876953125e-8"]
        let strict = try runUNetCkpt(["diff", half, base] + tolerance)
        #expect(strict.status == 1)
        #expect(strict.standardOutput.contains("DIFFERENT in dtype only: values equal within"))
        let json = try document(try runUNetCkpt(["diff", "--json", half, base] + tolerance))
        let counts = try #require(json["counts"] as? [String: Int])
        #expect(counts["changed"] == 0 && counts["dtype_differences"] == counts["compared"])
        #expect(json["values_equal"] as? Bool == true)
        let accepted = try runUNetCkpt(["diff", half, base, "--ignore-dtype"] + tolerance)
        #expect(accepted.status == 0)
        #expect(accepted.standardOutput.contains("EQUAL within"))
        #expect(accepted.standardOutput.contains("float16  float32"))
        #expect(try runUNetCkpt(["diff", half, base, "--ignore-dtype"]).status == 1)
    }

    @Test("an unreadable input exits 2, bad usage 64")
    func errors() throws {
        let directory = try TemporaryDirectory()
        let text = directory.file("notes.pth")
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: text))
        for arguments in [["diff", base, directory.file("absent.h5")], ["diff", text, base]] {
            let result = try runUNetCkpt(arguments)
            #expect(result.status == 2)
            #expect(result.standardError.hasPrefix("error: "))
            #expect(result.standardOutput.isEmpty)
        }
        for arguments in [["diff", base], ["diff", base, base, "--atol", "nan"], ["diff", base, base, "--limit=-1"]] {
            #expect(try runUNetCkpt(arguments).status == 64)
        }
    }
}
