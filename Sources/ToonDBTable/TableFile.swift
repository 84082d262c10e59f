import ToonDBFormat
import ToonDBIO

/// An open table file shared by a reader (or builder) and anything reading through it; the
/// descriptor is closed when the last holder lets go.
final class TableFile: Sendable {
    let file: File
    init(_ file: consuming File) { self.file = file }
    var path: String { file.path }
    var descriptor: Int32 { file.descriptor }
}
