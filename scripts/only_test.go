package scripts_test

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scriptPackages are the packages that run commands on hosts.
var scriptPackages = []string{"../phases", "../controlplane"}

// TestCommandsComeFromTemplates type-checks the packages that run commands
// on hosts and requires every ssh.Command's Script to be a scripts.Script's
// String(): a shell command built with fmt.Sprintf or + never reaches a
// host, because only Render makes a Script.
func TestCommandsComeFromTemplates(t *testing.T) {
	// One importer for both packages: it type-checks their dependencies
	// from source once.
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil)
	for _, dir := range scriptPackages {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var files []*ast.File
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				n := e.Name()
				if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
			conf := types.Config{Importer: imp}
			if _, err := conf.Check(filepath.Base(dir), fset, files, info); err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, f := range files {
				ast.Inspect(f, func(n ast.Node) bool {
					var value ast.Expr
					switch n := n.(type) {
					case *ast.CompositeLit:
						if !isNamed(info.Types[n].Type, "github.com/kubeha/kubeha/ssh", "Command") {
							return true
						}
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Script" {
									value = kv.Value
								}
							}
						}
					case *ast.AssignStmt:
						for i, lhs := range n.Lhs {
							if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "Script" &&
								isNamed(info.Types[sel.X].Type, "github.com/kubeha/kubeha/ssh", "Command") {
								value = n.Rhs[i]
							}
						}
					}
					if value == nil {
						return true
					}
					found++
					if !isScriptString(info, value) {
						t.Errorf("%s: an ssh.Command's Script is not a scripts.Script's String(): %s",
							fset.Position(value.Pos()), types.ExprString(value))
					}
					return true
				})
			}
			if found == 0 {
				t.Errorf("no ssh.Command found: the check looks in the wrong place")
			}
		})
	}
}

// isNamed reports whether t (or what it points to) is the named type
// pkg.name.
func isNamed(t types.Type, pkg, name string) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkg && n.Obj().Name() == name
}

// isScriptString reports whether e is x.String() with x a scripts.Script.
func isScriptString(info *types.Info, e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "String" && isNamed(info.Types[sel.X].Type, "github.com/kubeha/kubeha/scripts", "Script")
}
